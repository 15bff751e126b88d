/**
 * A Strata server process for tests that talk the plugin protocol directly: started from this
 * checkout's build on its own socket and state dir, killed and restarted by pid, and a small
 * client that sends requests shaped like dockerd's (POST, no Content-Type, chunked ApplyDiff).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { socketAnswers } from './dockerd';
import { SERVE_NODE_ARGS } from '../../src/node-args';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
const ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

export interface Reply {
  status: number;
  text: string;
  /** the body parsed as JSON, or undefined when it is not JSON */
  json: Record<string, unknown> | undefined;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** request sends one POST over a unix socket; a string/Buffer body goes with Content-Length, an iterable chunked. */
export function request(socket: string, urlPath: string, body?: string | Buffer | AsyncIterable<Buffer>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const fixed = typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.from(body) : undefined;
    const req = http.request({ socketPath: socket, method: 'POST', path: urlPath, headers: { Accept: ACCEPT, ...(fixed ? { 'Content-Length': fixed.length } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, text, json: parseJson(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (fixed || body === undefined) {
      req.end(fixed);
      return;
    }
    // Headers go out at once, as dockerd's do, even before the first byte of the body.
    req.flushHeaders();
    void (async () => {
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      } catch (err) {
        req.destroy(err as Error);
      }
    })();
  });
}

/**
 * requestOversized sends a body the server will refuse by its Content-Length alone: it waits for
 * the reply after the headers and writes the body only if none came. The server closes the
 * connection after replying, so writing on would fail with EPIPE and could lose the reply.
 */
export function requestOversized(socket: string, urlPath: string, body: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    const received: Buffer[] = [];
    conn.on('data', (c: Buffer) => received.push(c));
    conn.on('error', reject);
    conn.on('close', () => {
      const text = Buffer.concat(received).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const payload = text.slice(text.indexOf('\r\n\r\n') + 4);
      resolve({ status, text: payload, json: parseJson(payload) });
    });
    conn.on('connect', async () => {
      conn.write(`POST ${urlPath} HTTP/1.1\r\nHost: \r\nAccept: ${ACCEPT}\r\nContent-Length: ${body.length}\r\n\r\n`);
      // A server that refuses by Content-Length replies to the headers alone; give it the time.
      for (let waited = 0; waited < 500 && received.length === 0; waited += 10) await new Promise((r) => setTimeout(r, 10));
      for (let at = 0; at < body.length && received.length === 0 && !conn.destroyed; at += 16 * 1024) {
        conn.write(body.subarray(at, at + 16 * 1024));
        await new Promise((r) => setTimeout(r, 1));
      }
    });
  });
}


/**
 * CliProcess is one `strata <command>` from this checkout's build, logging to a file, started
 * until it answers on its socket and killed by pid.
 */
export class CliProcess {
  #child?: ChildProcess;

  /** `launcher` is a command that runs the rest of the line after setting something up (it must exec, keeping the pid). */
  constructor(
    readonly socket: string,
    readonly logFile: string,
    readonly args: readonly string[],
    readonly launcher: readonly string[] = [],
  ) {}

  /** start runs the command and waits until it answers on its socket. */
  async start(): Promise<void> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const [command, ...rest] = [...this.launcher, process.execPath, ...SERVE_NODE_ARGS, CLI, ...this.args];
    const child = spawn(command!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    this.#child = child;
    const deadline = Date.now() + 20_000;
    while (!(await socketAnswers(this.socket))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`strata ${this.args[0]} did not start (see ${this.logFile})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get pid(): number | undefined {
    return this.#child?.exitCode === null ? this.#child.pid : undefined;
  }

  /** kill sends a signal to this process only and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }
}

/** StrataProcess is `strata serve` on its own socket and state dir, with a client shaped like dockerd's. */
export class StrataProcess extends CliProcess {
  readonly stateDir: string;

  constructor(readonly dir: string) {
    const socket = path.join(dir, 'strata.sock');
    const stateDir = path.join(dir, 'state');
    super(socket, path.join(dir, 'strata.log'), ['serve', '--socket', socket, '--state-dir', stateDir, '--log-level', 'debug']);
    this.stateDir = stateDir;
  }

  /** call sends a JSON request (`body` may also be raw text, to test malformed input). */
  call(method: string, body: unknown = {}): Promise<Reply> {
    const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
    return request(this.socket, `/${method}`, text);
  }

  /** applyDiff sends a layer tar as dockerd does: ids in the query string, the body chunked. */
  applyDiff(id: string, parent: string, body: Buffer | AsyncIterable<Buffer>): Promise<Reply> {
    const chunked = Buffer.isBuffer(body) ? (async function* () { yield body; })() : body;
    return request(this.socket, `/GraphDriver.ApplyDiff?id=${id}&parent=${parent}`, chunked);
  }
}
