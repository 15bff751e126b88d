/**
 * The real protocol server on a real unix socket for protocol tests: buildApp around a
 * DriverSession whose OpenStore is main.ts's openStoreWith (probe + kernel mounts).
 */
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_IDLE_UNMOUNT_MS } from '../../src/config';
import { openStoreWith } from '../../src/main';
import { buildApp } from '../../src/graphdriver/app';
import { listenOnSocket } from '../../src/graphdriver/listen';
import { DriverSession } from '../../src/graphdriver/session';
import type { Logger } from '../../src/sys/log';
import { memoryLogger } from './store-fixture';
import { removeTmpDir } from './tmp-dir';

export interface TestServer {
  dir: string;
  socket: string;
  /** the Home to send in Init (not created yet) */
  home: string;
  stateDir: string;
  app: FastifyInstance;
  session: DriverSession;
  logLines: Array<Record<string, unknown>>;
  /** close stops the server, unmounts everything under the home and removes the scratch dir */
  close(): Promise<void>;
}

export async function startServer(opts: { log?: Logger; logLines?: Array<Record<string, unknown>>; idleUnmountMs?: number } = {}): Promise<TestServer> {
  const dir = mkdtempSync('/tmp/strata-proto-');
  const mem = opts.log ? { log: opts.log, lines: opts.logLines ?? [] } : memoryLogger();
  const stateDir = path.join(dir, 'state');
  const stores = openStoreWith(mem.log, { idleUnmountMs: opts.idleUnmountMs ?? DEFAULT_IDLE_UNMOUNT_MS });
  const session = new DriverSession(stateDir, stores.open, mem.log);
  const app = buildApp({ session, log: mem.log });
  const socket = path.join(dir, 'run', 'strata.sock');
  try {
    await listenOnSocket(app, socket);
  } catch (err) {
    await app.close();
    removeTmpDir(dir);
    throw err;
  }
  let closed = false;
  return {
    dir,
    socket,
    home: path.join(dir, 'home'),
    stateDir,
    app,
    session,
    logLines: mem.lines,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      try {
        await session.store().cleanup();
      } catch {
        // not initialised, or already clean: removeTmpDir unmounts whatever is left
      }
      await stores.close();
      removeTmpDir(dir);
    },
  };
}

/** initBody is the Init request dockerd 20.10 sends for a legacy plugin without options. */
export function initBody(home: string): Record<string, unknown> {
  return { Home: home, Opts: null, UIDMaps: null, GIDMaps: null };
}
