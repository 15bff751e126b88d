/**
 * The two whiteout formats (pure). In a tar (AUFS format) a deleted name is an empty file
 * `.wh.<name>` and an opaque directory holds `.wh..wh..opq`; on disk (overlay format) a deleted
 * name is a 0/0 character device and an opaque directory has `trusted.overlay.opaque=y`.
 */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OPAQUE_XATTR = 'trusted.overlay.opaque';

export type WhiteoutKind = { kind: 'opaque' } | { kind: 'whiteout'; name: string } | undefined;

/** classifyTarName tells whether a base name in a tar is an opaque marker or a whiteout. */
export function classifyTarName(base: string): WhiteoutKind {
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_PREFIX)) return { kind: 'whiteout', name: base.slice(WHITEOUT_PREFIX.length) };
  return undefined;
}

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;

/** isWhiteoutDevice tells whether a stat result is overlay's whiteout: a 0/0 character device. */
export function isWhiteoutDevice(st: { mode: number | bigint; rdev: number | bigint }): boolean {
  return (Number(st.mode) & S_IFMT) === S_IFCHR && Number(st.rdev) === 0;
}

/** isOpaqueValue tells whether the opaque xattr's value marks the directory opaque. */
export function isOpaqueValue(value: Buffer | undefined): boolean {
  return value !== undefined && value.length === 1 && value[0] === 0x79;
}
