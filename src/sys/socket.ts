/**
 * Unix socket paths shared by both front ends (the GraphDriver server and the snapshotter):
 * refuse to start when another instance answers there, and replace a stale socket file.
 */
import { lstat, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { errnoOf } from '../errors';

/** socketAnswers tells whether something accepts connections on the unix socket `socket`. */
export function socketAnswers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(socket);
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', () => resolve(false));
  });
}

/** prepareSocketPath throws a readable Error when `socket` is in use or is not a socket. */
export async function prepareSocketPath(socket: string): Promise<void> {
  await mkdir(path.dirname(socket), { recursive: true, mode: 0o755 });
  let st;
  try {
    st = await lstat(socket);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new Error(`${socket} exists and is not a socket; remove it or choose another --socket`);
  if (await socketAnswers(socket)) throw new Error(`another strata (or another program) is already listening on ${socket}; stop it first`);
  await unlink(socket);
}
