/**
 * Validation of everything from the wire that becomes a path or a mount option (pure), and
 * generation of the short link ids used in lower chains.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors';

/** MAX_ID_LENGTH bounds layer ids: Docker uses 64-hex (+ "-init"), BuildKit shorter keys. */
export const MAX_ID_LENGTH = 128;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Names in Home that belong to the layout itself and therefore can never be layer ids. */
const RESERVED_IDS = new Set(['l']);

/** checkLayerId throws InvalidArgumentError unless `id` is safe as one path component and in mount options. */
export function checkLayerId(id: string, what = 'layer id'): string {
  if (id.length === 0) throw new InvalidArgumentError(`${what} is empty`);
  if (id.length > MAX_ID_LENGTH) throw new InvalidArgumentError(`${what} is ${id.length} characters long (at most ${MAX_ID_LENGTH})`);
  if (!ID_PATTERN.test(id) || id.includes('..')) {
    throw new InvalidArgumentError(`${what} ${JSON.stringify(id)} may only contain letters, digits, '_', '.' and '-' (no '..', '/', ',', ':' or control characters)`);
  }
  if (RESERVED_IDS.has(id)) throw new InvalidArgumentError(`${what} ${JSON.stringify(id)} is reserved`);
  return id;
}

// An SELinux context: user:role:type, optionally :sensitivity[-sensitivity][:categories]. Commas
// can only appear in the category list, and the whole label is quoted in the mount data.
const LABEL_PATTERN = /^[a-z0-9_]+:[a-z0-9_]+:[a-z0-9_]+(:s[0-9]+(-s[0-9]+)?(:c[0-9]+([.,]c[0-9]+)*)?)?$/i;
const MAX_LABEL_LENGTH = 512;

/** checkMountLabel accepts an SELinux context, which becomes a quoted context="…" mount option. */
export function checkMountLabel(label: string): string {
  if (label.length > MAX_LABEL_LENGTH || !LABEL_PATTERN.test(label)) {
    throw new InvalidArgumentError(`mount label ${JSON.stringify(label.slice(0, 80))} is not a valid SELinux context`);
  }
  return label;
}

/** LINK_ID_LENGTH keeps 128 relative lower entries (`l/<link>:`) inside one page of mount data. */
export const LINK_ID_LENGTH = 26;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const LINK_PATTERN = /^[A-Z2-7]{26}$/;

/** newLinkId returns a random 26-character base32 id, as overlay2 uses in l/. */
export function newLinkId(): string {
  const bytes = randomBytes(LINK_ID_LENGTH);
  let out = '';
  for (const b of bytes) out += BASE32[b & 31];
  return out;
}

/** isLinkId tells whether `s` has the shape of a link id (used when reading metadata back). */
export function isLinkId(s: string): boolean {
  return LINK_PATTERN.test(s);
}
