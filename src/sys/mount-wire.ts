/**
 * What the server and its mount helper (sys/mount-helper.ts) say to each other, one JSON line
 * each way per request, and the one check both sides run on a request: only overlay mounts and
 * unmounts below the store's home, with options of the shapes the mount plans make
 * (store/mount-plan.ts), so nothing but a planned mount reaches mount(2).
 */
import path from 'node:path';

/** MountHelperRequest is one request; the helper answers every one, in order, with its `id`. */
export type MountHelperRequest =
  | { id: number; op: 'mount'; target: string; options: string; cwd?: string }
  | { id: number; op: 'unmount'; target: string; lazy: boolean };

/** MountHelperReply is the answer to the request with the same `id`: done, refused, or the kernel's errno. */
export type MountHelperReply = { id: number; ok: true } | { id: number; ok: false; errno?: string; reason: string };

/** READY_LINE is the helper's first line: it has its libc calls and takes requests. */
export const READY_LINE = '{"ready":true}';

/** MAX_REQUEST_BYTES bounds a request line: a page of mount data plus two paths, with room for JSON escapes. */
export const MAX_REQUEST_BYTES = 32 * 1024;

// One page minus the NUL: what mount(2) takes as data (as store/mount-plan.ts's MAX_MOUNT_DATA).
const MAX_MOUNT_DATA = 4095;
const MAX_PATH = 4096;
// The feature options probeHost may put first (sys/probe.ts, overlayOptionsFor).
const FEATURE_OPTIONS = new Set(['index=off', 'redirect_dir=off', 'metacopy=off']);
const PATH_OPTIONS = new Set(['lowerdir', 'upperdir', 'workdir']);
// A quoted SELinux context, the last option when there is one: nothing in it can end the quotes.
const CONTEXT_OPTION = /,context="[A-Za-z0-9_:.,-]{1,512}"$/;
// No NUL, no control characters, no quotes: none belongs in a path or option of a planned mount.
const PLAIN = /^[^\0-\x1f\x7f"]*$/;

/** isBelow tells whether `p` is a normalized absolute path strictly inside `home`. */
function isBelow(p: string, home: string): boolean {
  return isNormalAbsolute(p) && p.startsWith(`${home}/`);
}

function isNormalAbsolute(p: string): boolean {
  return p.length <= MAX_PATH && PLAIN.test(p) && path.isAbsolute(p) && path.normalize(p) === p && !p.endsWith('/');
}

// A relative lower, upper or work dir: no way up and out of the working directory by name.
function isNormalRelative(p: string): boolean {
  return p !== '' && PLAIN.test(p) && !path.isAbsolute(p) && path.normalize(p) === p && !p.split('/').includes('..');
}

/** refusalOfOptions says why an overlay option string is not one the mount plans make, or undefined. */
function refusalOfOptions(options: string, home: string, relative: boolean): string | undefined {
  if (options.length > MAX_MOUNT_DATA) return 'mount data longer than a page';
  const plain = options.replace(CONTEXT_OPTION, '');
  if (!PLAIN.test(plain)) return 'mount data with a control character or quote';
  const seen = new Set<string>();
  for (const option of plain.split(',')) {
    if (FEATURE_OPTIONS.has(option)) continue;
    const eq = option.indexOf('=');
    const key = option.slice(0, eq);
    if (eq < 0 || !PATH_OPTIONS.has(key)) return `mount option ${JSON.stringify(option.slice(0, 40))} is not one Strata plans`;
    if (seen.has(key)) return `mount option ${key} given twice`;
    seen.add(key);
    const dirs = key === 'lowerdir' ? option.slice(eq + 1).split(':') : [option.slice(eq + 1)];
    const ok = (d: string) => (relative ? isNormalRelative(d) : isBelow(d, home));
    if (!dirs.every(ok)) return `${key} names a directory outside the store`;
  }
  if (!seen.has('lowerdir')) return 'no lowerdir';
  if (seen.has('upperdir') !== seen.has('workdir')) return 'upperdir and workdir come together';
  return undefined;
}

/**
 * refusalOf says why `req` is not a request the helper performs, or undefined when it is. The
 * reason names no path: it may reach a client.
 */
export function refusalOf(req: unknown, home: string): string | undefined {
  if (typeof req !== 'object' || req === null) return 'not a request object';
  const r = req as Record<string, unknown>;
  if (!Number.isSafeInteger(r.id) || (r.id as number) < 1) return 'no request id';
  if (typeof r.target !== 'string' || !isBelow(r.target, home)) return 'the target is not below the store';
  if (r.op === 'unmount') return typeof r.lazy === 'boolean' ? undefined : 'lazy is not a boolean';
  if (r.op !== 'mount') return 'op is neither mount nor unmount';
  if (typeof r.options !== 'string') return 'options is not a string';
  if (r.cwd !== undefined && (typeof r.cwd !== 'string' || (r.cwd !== home && !isBelow(r.cwd, home)))) return 'the working directory is not the store';
  return refusalOfOptions(r.options, home, r.cwd !== undefined);
}
