/**
 * The only place Strata starts child processes. Commands are argv arrays (never shell strings),
 * stderr is always captured, and every run has a timeout.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { CommandFailedError } from '../errors';

export interface RunOptions {
  cwd?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** discardStdout skips a pipe the caller has no use for (a pipe to drain costs per run) */
  discardStdout?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Exec runs a command to completion; it rejects with CommandFailedError on a non-zero exit. */
export type Exec = (argv: readonly string[], options?: RunOptions) => Promise<RunResult>;

const MAX_CAPTURE = 64 * 1024;

// The environment every child gets: a PATH and the C locale, nothing of the server's own.
function childEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
}

/** ServiceChild is a long-lived child spoken to through its stdin and stdout. */
export type ServiceChild = ChildProcessByStdio<Writable, Readable, Readable>;

/** startService starts a long-lived child with piped stdin, stdout and stderr; the caller owns its lifetime. */
export function startService(argv: readonly string[], options: { cwd?: string } = {}): ServiceChild {
  const [file, ...args] = argv;
  if (!file) throw new TypeError('startService: empty argv');
  return spawn(file, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() });
}

/** run is the production Exec. */
export const run: Exec = (argv, options = {}) =>
  new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    if (!file) throw new TypeError('run: empty argv');
    const child = spawn(file, args, {
      cwd: options.cwd,
      stdio: ['ignore', options.discardStdout ? 'ignore' : 'pipe', 'pipe'],
      signal: options.signal,
      env: childEnv(),
    });
    // Our own timer rather than spawn's `timeout`: on Node 22 that one outlives a child that
    // could not start (ENOENT) and holds the event loop open for its whole duration.
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 60_000);
    timer.unref();
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      if (stdout.length < MAX_CAPTURE) stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < MAX_CAPTURE) stderr += d.toString();
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CommandFailedError(argv, null, null, String(err.message), err));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandFailedError(argv, code, signal, stderr));
    });
  });
