/**
 * HelperMounter: the store's mounts through one long-lived mount helper child
 * (sys/mount-helper.ts) instead of a `mount`/`umount` process per mount, which cost a process
 * start (~3 ms) on every Get and Put. Requests are checked here and again in the helper
 * (sys/mount-wire.ts), written as JSON lines and may be in flight together; the helper performs
 * them one at a time, in order.
 *
 * When the helper dies, the requests in flight fail (not retried: a mount that was done before
 * the death would be stacked a second time) and the next request starts a new helper. When it
 * cannot start at all, every mount goes through `mount`/`umount` processes, as said in the log.
 */
import path from 'node:path';
import { createInterface } from 'node:readline';
import { MountFailedError } from '../errors';
import { SERVE_NODE_ARGS } from '../node-args';
import { startService, type ServiceChild } from './exec';
import type { Logger } from './log';
import type { Mounter, MountSpec } from './mounter';
import { READY_LINE, refusalOf, type MountHelperReply, type MountHelperRequest } from './mount-wire';

/** MOUNT_HELPER_COMMAND starts this build's mount helper with the node running the server. */
export const MOUNT_HELPER_COMMAND: readonly string[] = [process.execPath, ...SERVE_NODE_ARGS, path.resolve(__dirname, '..', 'mount-helper-main.js')];

const READY_TIMEOUT_MS = 10_000;
// As long as KernelMounter gives a mount or umount command.
const REQUEST_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 2_000;
const STDERR_TAIL = 2048;

type Operation = 'mount' | 'umount';
type Body = Omit<Extract<MountHelperRequest, { op: 'mount' }>, 'id'> | Omit<Extract<MountHelperRequest, { op: 'unmount' }>, 'id'>;

interface Pending {
  operation: Operation;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Helper is one running helper process and the requests it has not answered yet. */
interface Helper {
  child: ServiceChild;
  pending: Map<number, Pending>;
  stderrTail: string;
  /**
   * Armed while requests are in flight: it holds the event loop open for their replies (the
   * pipes themselves are unref'd, so an idle helper never keeps the server from exiting; ref'ing
   * and unref'ing them per request cost more than the request) and kills a helper stuck in the
   * kernel for as long as a mount command was given.
   */
  watchdog: NodeJS.Timeout | undefined;
}

// The pipes are sockets, which can be unref'd.
type Refable = { unref(): void };

export interface HelperMounterOptions {
  /** the store's home: the helper mounts and unmounts nothing outside it */
  home: string;
  log: Logger;
  /** performs what the helper does not (other filesystem types, such as a size limit's ext4) and everything when it cannot start */
  viaChildren: Mounter;
  /** the helper's command line before `--home DIR` */
  command?: readonly string[];
}

export class HelperMounter implements Mounter {
  readonly #o: Required<HelperMounterOptions>;
  #helper: Promise<Helper | undefined> | undefined;
  #nextId = 1;
  #unavailable = false;
  #closed = false;

  constructor(options: HelperMounterOptions) {
    this.#o = { command: MOUNT_HELPER_COMMAND, ...options };
  }

  async mount(spec: MountSpec): Promise<void> {
    if (spec.type !== 'overlay' || spec.source !== 'overlay') return this.#o.viaChildren.mount(spec);
    const body: Body = { op: 'mount', target: spec.target, options: spec.options, ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }) };
    return this.#request('mount', body, () => this.#o.viaChildren.mount(spec));
  }

  async unmount(target: string, options: { lazy?: boolean } = {}): Promise<void> {
    return this.#request('umount', { op: 'unmount', target, lazy: options.lazy === true }, () => this.#o.viaChildren.unmount(target, options));
  }

  /** pid is the running helper's process id (for tests and `strata status`), or undefined. */
  async pid(): Promise<number | undefined> {
    return (await this.#helper)?.child.pid;
  }

  /** close stops the helper: its stdin closes, and it is killed if it has not exited soon after. */
  async close(): Promise<void> {
    this.#closed = true;
    const helper = await this.#helper;
    this.#helper = undefined;
    if (!helper || helper.child.exitCode !== null || helper.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => helper.child.once('close', () => resolve()));
    helper.child.stdin.end();
    const timer = setTimeout(() => helper.child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  async #request(operation: Operation, body: Body, viaChildren: () => Promise<void>): Promise<void> {
    const id = this.#nextId++;
    const req = { id, ...body } as MountHelperRequest;
    const refusal = refusalOf(req, this.#o.home);
    if (refusal !== undefined) throw new MountFailedError(operation, `refused: ${refusal}`);
    const helper = await this.#running();
    if (!helper) return viaChildren();
    return new Promise<void>((resolve, reject) => {
      helper.pending.set(id, { operation, resolve, reject });
      if (helper.pending.size === 1) armWatchdog(helper);
      helper.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  /** running returns the helper, started if need be, or undefined when mounts go through child processes. */
  #running(): Promise<Helper | undefined> {
    if (this.#closed || this.#unavailable) return Promise.resolve(undefined);
    this.#helper ??= this.#start();
    return this.#helper;
  }

  async #start(): Promise<Helper | undefined> {
    const { log, home } = this.#o;
    // Its cwd is / and not the home: a process there would make umount of the home's filesystem fail (EBUSY).
    const child = startService([...this.#o.command, '--home', home], { cwd: '/' });
    const helper: Helper = { child, pending: new Map(), stderrTail: '', watchdog: undefined };
    child.stderr.on('data', (d: Buffer) => {
      helper.stderrTail = (helper.stderrTail + d.toString()).slice(-STDERR_TAIL);
    });
    // A write to a helper that just died fails with EPIPE; its exit fails the pending requests.
    child.stdin.on('error', () => {});
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    const ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
      const settle = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      child.once('error', () => settle(false));
      child.once('exit', () => settle(false));
      lines.once('line', (line) => settle(line === READY_LINE));
    });
    if (!(await ready)) {
      child.kill('SIGKILL');
      this.#unavailable = true;
      log.warn({ stderr: helper.stderrTail.trim() || undefined }, 'the mount helper could not start; mounting through mount and umount processes');
      return undefined;
    }
    lines.on('line', (line) => this.#answered(helper, line));
    // 'close', not 'exit': the replies it wrote before it died have been read by then.
    child.once('close', (code, signal) => this.#exited(helper, code, signal));
    for (const h of [child, child.stdin, child.stdout, child.stderr] as unknown as Refable[]) h.unref();
    log.debug({ helperPid: child.pid }, 'mount helper started');
    return helper;
  }

  #answered(helper: Helper, line: string): void {
    let reply: MountHelperReply | undefined;
    try {
      reply = JSON.parse(line) as MountHelperReply;
    } catch {
      reply = undefined;
    }
    const pending = reply && helper.pending.get(reply.id);
    if (!reply || !pending) {
      // Out of step with its requests: nothing it says can be trusted any more.
      this.#o.log.error({ line: line.slice(0, 200) }, 'the mount helper sent a reply to no request; stopping it');
      helper.child.kill('SIGKILL');
      return;
    }
    helper.pending.delete(reply.id);
    if (helper.pending.size === 0) disarmWatchdog(helper);
    else helper.watchdog?.refresh();
    if (reply.ok) pending.resolve();
    else pending.reject(new MountFailedError(pending.operation, reply.reason, reply.errno));
  }

  #exited(helper: Helper, code: number | null, signal: NodeJS.Signals | null): void {
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    if (!this.#closed) this.#o.log.warn({ helperPid: helper.child.pid, code, signal, stderr: helper.stderrTail.trim() || undefined, inFlight: helper.pending.size }, 'the mount helper exited; the next mount starts it again');
    for (const p of helper.pending.values()) p.reject(new MountFailedError(p.operation, `the mount helper exited (${how}) before it answered`));
    helper.pending.clear();
    disarmWatchdog(helper);
    if (!this.#closed) this.#helper = undefined;
  }
}

function armWatchdog(helper: Helper): void {
  helper.watchdog = setTimeout(() => helper.child.kill('SIGKILL'), REQUEST_TIMEOUT_MS);
}

function disarmWatchdog(helper: Helper): void {
  clearTimeout(helper.watchdog);
  helper.watchdog = undefined;
}
