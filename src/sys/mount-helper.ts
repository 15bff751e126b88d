/**
 * The mount helper (`mount-helper-main.js --home DIR`): the long-lived child that performs the
 * server's overlay mounts and unmounts with mount(2)/umount2(2), so a mount costs a line on a
 * pipe instead of a process start. It reads one JSON request a line from stdin, checks it (sys/mount-wire.ts),
 * performs it and writes one JSON reply a line to stdout, strictly in order. It exits when
 * stdin closes, which is also what happens when the server dies.
 */
import { createInterface } from 'node:readline';
import path from 'node:path';
import { MNT_DETACH, mount, umount2 } from './libc';
import { MAX_REQUEST_BYTES, READY_LINE, refusalOf, type MountHelperReply, type MountHelperRequest } from './mount-wire';
import { getSystemErrorMap } from 'node:util';
import { errnoOf } from '../errors';

// "EBUSY" → "resource busy or locked": libuv's words for each errno name.
const ERRNO_TEXT = new Map<string, string>([...getSystemErrorMap().values()]);

/** perform carries out one checked request; the reply carries the errno and the kernel's words, never a path. */
export function perform(req: MountHelperRequest): MountHelperReply {
  try {
    if (req.op === 'unmount') {
      umount2(req.target, req.lazy ? MNT_DETACH : 0);
    } else if (req.cwd === undefined) {
      mount('overlay', req.target, 'overlay', req.options);
    } else {
      // Relative lower, upper and work dirs are resolved by the kernel from the caller's cwd.
      // Back to / at once: a cwd left in the home would keep its filesystem busy for umount.
      process.chdir(req.cwd);
      try {
        mount('overlay', req.target, 'overlay', req.options);
      } finally {
        process.chdir('/');
      }
    }
    return { id: req.id, ok: true };
  } catch (err) {
    const errno = errnoOf(err) ?? 'EIO';
    return { id: req.id, ok: false, errno, reason: `${errno}: ${ERRNO_TEXT.get(errno) ?? 'unknown error'}` };
  }
}

/** answer turns one request line into its reply line. */
export function answer(line: string, home: string): string {
  let req: unknown;
  try {
    req = line.length > MAX_REQUEST_BYTES ? undefined : JSON.parse(line);
  } catch {
    req = undefined;
  }
  const refusal = refusalOf(req, home);
  const id = Number((req as { id?: unknown } | undefined)?.id) || 0;
  const reply = refusal === undefined ? perform(req as MountHelperRequest) : { id, ok: false, reason: `refused: ${refusal}` };
  return JSON.stringify(reply);
}

/** mountHelperMain runs the helper for `home` until stdin closes. */
export async function mountHelperMain(args: readonly string[]): Promise<number> {
  const home = args[0] === '--home' && args.length === 2 ? args[1]! : '';
  if (!path.isAbsolute(home) || path.normalize(home) !== home || home === '/') {
    console.error('usage: mount-helper-main.js --home DIR (a normalized absolute path)');
    return 2;
  }
  process.chdir('/');
  process.stdout.write(`${READY_LINE}\n`);
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) process.stdout.write(`${answer(line, home)}\n`);
  return 0;
}
