/**
 * Numbers in tar headers and their extensions: octal fields, GNU base-256 fields for values
 * octal cannot hold, and the decimal numbers of PAX values and GNU sparse maps.
 */
import { InvalidArchiveError } from '../../errors';

/**
 * parseNumeric reads an octal field, or a base-256 one (high bit set) as GNU tar writes large
 * values. It throws InvalidArchiveError for text that is not octal, and for base-256 numbers
 * that are negative or beyond 2^53 (Go's reader takes negative ones, then refuses them as
 * sizes; no id, time or device number in a layer is negative, so Strata refuses them all).
 */
export function parseNumeric(buf: Buffer, off: number, len: number, what = 'numeric'): number {
  if (buf[off]! & 0x80) {
    if (buf[off]! & 0x40) throw new InvalidArchiveError(`its ${what} field holds a negative base-256 number`);
    let value = BigInt(buf[off]! & 0x7f);
    for (let i = 1; i < len; i++) value = (value << 8n) | BigInt(buf[off + i]!);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArchiveError(`its ${what} field holds a base-256 number too large to use`);
    return Number(value);
  }
  // Byte by byte, without a string per field: a layer of 10k entries has 80k of these fields.
  let end = off + len;
  for (let i = off; i < end; i++) {
    if (buf[i] === 0) {
      end = i;
      break;
    }
  }
  let start = off;
  while (start < end && isBlank(buf[start]!)) start++;
  while (end > start && isBlank(buf[end - 1]!)) end--;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = buf[i]! - 0x30;
    if (digit < 0 || digit > 7) throw new InvalidArchiveError(`its ${what} field holds ${JSON.stringify(buf.toString('latin1', start, end))}, not an octal number`);
    value = value * 8 + digit;
  }
  return value;
}

/** isBlank tells whether a latin1 byte is one String.prototype.trim removes (tab to CR, space, NBSP), as Go's reader trims fields. */
function isBlank(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0xa0;
}

/**
 * parseDecimal parses a decimal number the way Go's strconv.ParseInt does for PAX values and
 * sparse maps, without a sign (nothing in a layer is negative, and Go refuses negative sizes
 * and sparse offsets): it throws InvalidArchiveError for anything else.
 */
export function parseDecimal(v: string, what: string): number {
  const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArchiveError(`its ${what} ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)} is not a number`);
  return n;
}

/** fitsOctal tells whether a value fits an octal field of `len` bytes (with its terminator). */
export function fitsOctal(value: number, len: number): boolean {
  return value >= 0 && value < 8 ** (len - 1);
}

/** writeOctal writes `value` as len-1 zero-padded octal digits and a NUL; callers make sure it fits. */
export function writeOctal(block: Buffer, value: number, off: number, len: number): void {
  let rest = value;
  for (let i = off + len - 2; i >= off; i--) {
    block[i] = 0x30 + (rest % 8);
    rest = Math.floor(rest / 8);
  }
  block[off + len - 1] = 0;
}
