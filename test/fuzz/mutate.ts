/**
 * Mutations for the fuzzer, as libFuzzer's mutation dispatcher has them (bit flips, interesting
 * bytes, erase, insert, copy, dictionary words, crossover), plus tar-aware ones: a number or a
 * word written into a header field of some 512-byte block, and a block duplicated or dropped.
 */

/** Rng is a seeded PRNG (mulberry32), so that a run can be replayed from its seed. */
export class Rng {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }

  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** below returns an integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x30, 0x37, 0x38, 0x2f, 0x2e, 0x0a, 0x3d, 0x2c];

/** Header field offsets and lengths of a USTAR block (and the GNU sparse fields). */
const TAR_FIELDS: ReadonlyArray<[number, number]> = [
  [0, 100], [100, 8], [108, 8], [116, 8], [124, 12], [136, 12], [148, 8], [156, 1], [157, 100], [257, 6],
  [263, 2], [265, 32], [297, 32], [329, 8], [337, 8], [345, 155], [386, 12], [398, 12], [482, 1], [483, 12],
];

/** MutationContext is what a mutation may use besides the input: words, other inputs, the size limit. */
export interface MutationContext {
  dictionary: readonly Buffer[];
  other: () => Buffer;
  maxLength: number;
  /** tar inputs get the block-aware mutations */
  tar: boolean;
}

type Mutation = (data: Buffer, rng: Rng, ctx: MutationContext) => Buffer;

const flipBit: Mutation = (d, rng) => {
  if (d.length === 0) return d;
  d[rng.below(d.length)]! ^= 1 << rng.below(8);
  return d;
};

const setByte: Mutation = (d, rng) => {
  if (d.length === 0) return d;
  d[rng.below(d.length)] = rng.next() < 0.5 ? rng.pick(INTERESTING) : rng.below(256);
  return d;
};

const erase: Mutation = (d, rng) => {
  if (d.length < 2) return d;
  const at = rng.below(d.length);
  const n = 1 + rng.below(Math.max(1, Math.min(d.length - at, rng.next() < 0.8 ? 16 : 1024)));
  return Buffer.concat([d.subarray(0, at), d.subarray(at + n)]);
};

const insert: Mutation = (d, rng, ctx) => {
  const at = rng.below(d.length + 1);
  const bytes = rng.next() < 0.5 && ctx.dictionary.length ? rng.pick(ctx.dictionary) : Buffer.from(Array.from({ length: 1 + rng.below(8) }, () => rng.below(256)));
  return Buffer.concat([d.subarray(0, at), bytes, d.subarray(at)]);
};

const overwriteWord: Mutation = (d, rng, ctx) => {
  if (d.length === 0 || ctx.dictionary.length === 0) return d;
  rng.pick(ctx.dictionary).copy(d, rng.below(d.length));
  return d;
};

const copyPart: Mutation = (d, rng) => {
  if (d.length < 2) return d;
  const from = rng.below(d.length);
  const n = 1 + rng.below(Math.min(d.length - from, 512));
  const part = Buffer.from(d.subarray(from, from + n));
  const at = rng.below(d.length + 1);
  return rng.next() < 0.5 ? Buffer.concat([d.subarray(0, at), part, d.subarray(at)]) : (part.copy(d, at), d);
};

const crossover: Mutation = (d, rng, ctx) => {
  const o = ctx.other();
  const cut = (b: Buffer) => (ctx.tar ? 512 * rng.below(Math.floor(b.length / 512) + 1) : rng.below(b.length + 1));
  return Buffer.concat([d.subarray(0, cut(d)), o.subarray(cut(o))]);
};

/** A number written into a tar field: octal of a boundary value, or base-256, or text. */
const tarNumber: Mutation = (d, rng, ctx) => {
  const blocks = Math.floor(d.length / 512);
  if (blocks === 0) return d;
  const [off, len] = rng.pick(TAR_FIELDS);
  const at = 512 * rng.below(blocks) + off;
  const value = rng.pick([0, 1, 511, 512, 513, 2 ** 21 - 1, 2 ** 21, 2 ** 33 - 1, 2 ** 33, 2 ** 53, rng.below(1 << 20)]);
  const field = Buffer.alloc(len);
  const choice = rng.below(4);
  if (choice === 0) {
    field[0] = 0x80;
    let v = BigInt(value);
    for (let i = len - 1; i > 0 && v > 0n; i--, v >>= 8n) field[i] = Number(v & 0xffn);
  } else if (choice === 1 && ctx.dictionary.length) {
    rng.pick(ctx.dictionary).copy(field);
  } else {
    field.write(value.toString(8).padStart(len - 1, '0').slice(-(len - 1)), 'latin1');
  }
  field.copy(d, at);
  return d;
};

const tarBlock: Mutation = (d, rng) => {
  const blocks = Math.floor(d.length / 512);
  if (blocks === 0) return d;
  const i = rng.below(blocks);
  const block = d.subarray(512 * i, 512 * (i + 1));
  if (rng.next() < 0.5) return Buffer.concat([d.subarray(0, 512 * i), d.subarray(512 * (i + 1))]);
  const at = 512 * rng.below(blocks + 1);
  return Buffer.concat([d.subarray(0, at), Buffer.from(block), d.subarray(at)]);
};

const BYTE_MUTATIONS = [flipBit, setByte, erase, insert, overwriteWord, copyPart, crossover];
const TAR_MUTATIONS = [tarNumber, tarNumber, tarBlock];

/** mutate returns a new input: 1 to 8 stacked mutations of a copy of `input`, cut to the size limit. */
export function mutate(input: Buffer, rng: Rng, ctx: MutationContext): Buffer {
  let d: Buffer = Buffer.from(input);
  const all = ctx.tar ? [...BYTE_MUTATIONS, ...TAR_MUTATIONS] : BYTE_MUTATIONS;
  for (let n = 1 + rng.below(8); n > 0; n--) d = rng.pick(all)(d, rng, ctx);
  return d.length > ctx.maxLength ? d.subarray(0, ctx.maxLength) : d;
}

/**
 * fixTarChecksums rewrites the checksum of every block that carries the USTAR magic, so that
 * mutations get past the checksum (a random byte change would otherwise fail it nearly always).
 */
export function fixTarChecksums(d: Buffer): Buffer {
  for (let at = 0; at + 512 <= d.length; at += 512) {
    if (d.toString('latin1', at + 257, at + 262) !== 'ustar') continue;
    let sum = 8 * 0x20;
    for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += d[at + i]!;
    d.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
  }
  return d;
}
