/**
 * An isolated containerd 1.7 (Debian 13's, from test/setup-trixie.sh) for tests, in the style of
 * dockerd.ts: one temp directory holding its config, root, state, gRPC and ttrpc sockets, and
 * log; started and stopped by pid. The system containerd is never touched.
 *
 * containerd runs with the prefix's usr/bin first in PATH, so it starts its own 1.7
 * containerd-shim-runc-v2; runc is Debian 12's /usr/sbin/runc (found later in PATH, or given to
 * ctr with --runc-binary, which `ctrRun` does). Proxy snapshotter plugins and the CRI plugin are
 * configured from the options. Note that containerd 1.7 puts shim sockets under
 * /run/containerd/s/<hash> and the runc state under /run/containerd/runc/<namespace> whatever
 * its state dir is: use namespaces no other containerd uses (the default one is unique).
 */
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { alive, exec, killPid, mountsUnder, socketAnswers, spawnLogged, stopPid, waitFor, type RunResult } from './dockerd';
import { CONTAINERD17, CTR17, RUNC, trixiePath } from './tiers';

export type { RunResult };

/** A proxy plugin: containerd dials `address`; `root` (optional) is exported as the plugin's root. */
export interface ProxyPlugin {
  address: string;
  /** `[proxy_plugins.NAME.exports] root`: what CRI's ImageFsInfo reports as the snapshotter's directory */
  root?: string;
  /** plugin type; default "snapshot" */
  type?: 'snapshot' | 'content' | 'diff';
}

export interface CriOptions {
  /** `[plugins."io.containerd.grpc.v1.cri".containerd] snapshotter`; default "overlayfs" */
  snapshotter?: string;
  /** must be available offline (imported into the k8s.io namespace, or on a loopback registry) */
  sandboxImage?: string;
  /** `disable_snapshot_annotations`; containerd's default is true (no cri.* labels on Prepare) */
  disableSnapshotAnnotations?: boolean;
  /** more TOML appended to the config, e.g. further `[plugins."io.containerd.grpc.v1.cri"...]` tables */
  extraToml?: string;
}

export interface ContainerdOptions {
  /** proxy plugins by name, e.g. `{ strata: '/tmp/x/snapshotter.sock' }` or `{ strata: { address, root } }` */
  proxyPlugins?: Record<string, string | ProxyPlugin>;
  /** the CRI plugin is disabled unless this is set; `true` means all defaults */
  cri?: boolean | CriOptions;
  /** default namespace for `ctr` (default: `t-<random>`, unique to this instance) */
  namespace?: string;
  /** containerd's log level; default "debug" */
  logLevel?: string;
  /** more TOML appended to config.toml */
  extraToml?: string;
  /** extra environment for containerd (and so for its shims) */
  env?: NodeJS.ProcessEnv;
}

export interface CtrOptions {
  /** `ctr --namespace`; default: this instance's namespace */
  namespace?: string;
  input?: string | Buffer;
  allowFail?: boolean;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

function tomlString(s: string): string {
  return JSON.stringify(s);
}

export class TestContainerd {
  readonly base: string;
  readonly namespace: string;
  #child?: ChildProcess;

  private constructor(base: string, readonly opts: ContainerdOptions) {
    this.base = base;
    this.namespace = opts.namespace ?? `t-${randomBytes(4).toString('hex')}`;
  }

  /** start writes config.toml and starts containerd, waiting until `ctr version` answers. */
  static async start(opts: ContainerdOptions = {}): Promise<TestContainerd> {
    const base = await mkdtemp(path.join(os.tmpdir(), 'strata-ctrd-'));
    const c = new TestContainerd(base, opts);
    try {
      await Promise.all([c.root, c.state, path.join(base, 'opt'), path.join(base, 'cni', 'bin'), path.join(base, 'cni', 'conf')].map((d) => mkdir(d, { recursive: true })));
      await writeFile(c.configFile, c.configToml());
      await c.#startProcess();
    } catch (err) {
      await c.stop({ allowLeftoverMounts: true }).catch(() => undefined);
      throw err;
    }
    return c;
  }

  /** address is the gRPC socket (what `--containerd=` and `ctr --address` take). */
  get address(): string {
    return path.join(this.base, 'containerd.sock');
  }
  get ttrpcAddress(): string {
    return path.join(this.base, 'containerd.sock.ttrpc');
  }
  get root(): string {
    return path.join(this.base, 'root');
  }
  get state(): string {
    return path.join(this.base, 'state');
  }
  get configFile(): string {
    return path.join(this.base, 'config.toml');
  }
  get logFile(): string {
    return path.join(this.base, 'containerd.log');
  }
  get pid(): number | undefined {
    return alive(this.#child?.pid) ? this.#child!.pid : undefined;
  }

  /** configToml is the config.toml this instance runs with. */
  configToml(): string {
    const o = this.opts;
    const lines = [
      'version = 2',
      `root = ${tomlString(this.root)}`,
      `state = ${tomlString(this.state)}`,
      'oom_score = 0',
    ];
    if (!o.cri) lines.push('disabled_plugins = ["io.containerd.grpc.v1.cri"]');
    lines.push(
      '',
      '[grpc]',
      `  address = ${tomlString(this.address)}`,
      '',
      '[ttrpc]',
      `  address = ${tomlString(this.ttrpcAddress)}`,
      '',
      '[debug]',
      '  address = ""',
      `  level = ${tomlString(o.logLevel ?? 'debug')}`,
      '',
      '[metrics]',
      '  address = ""',
      '',
      '[plugins]',
      '  [plugins."io.containerd.internal.v1.opt"]',
      `    path = ${tomlString(path.join(this.base, 'opt'))}`,
      '  [plugins."io.containerd.nri.v1.nri"]',
      '    disable = true',
    );
    if (o.cri) {
      const cri: CriOptions = o.cri === true ? {} : o.cri;
      const p = '  [plugins."io.containerd.grpc.v1.cri"';
      lines.push(
        `${p}]`,
        `    sandbox_image = ${tomlString(cri.sandboxImage ?? 'registry.k8s.io/pause:3.8')}`,
        '    restrict_oom_score_adj = true',
        '    enable_cdi = false',
        '    stream_server_address = "127.0.0.1"',
        '    stream_server_port = "0"',
        `${p}.containerd]`,
        `    snapshotter = ${tomlString(cri.snapshotter ?? 'overlayfs')}`,
        '    default_runtime_name = "runc"',
        `    disable_snapshot_annotations = ${cri.disableSnapshotAnnotations ?? true}`,
        `${p}.containerd.runtimes.runc]`,
        '    runtime_type = "io.containerd.runc.v2"',
        `${p}.containerd.runtimes.runc.options]`,
        `    BinaryName = ${tomlString(RUNC)}`,
        // No CNI: empty dirs, so Status reports NetworkReady=false and only host-network pods run.
        `${p}.cni]`,
        `    bin_dir = ${tomlString(path.join(this.base, 'cni', 'bin'))}`,
        `    conf_dir = ${tomlString(path.join(this.base, 'cni', 'conf'))}`,
      );
      if (cri.extraToml) lines.push(cri.extraToml);
    }
    for (const [name, spec] of Object.entries(o.proxyPlugins ?? {})) {
      const p: ProxyPlugin = typeof spec === 'string' ? { address: spec } : spec;
      lines.push('', `[proxy_plugins.${tomlString(name)}]`, `  type = ${tomlString(p.type ?? 'snapshot')}`, `  address = ${tomlString(p.address)}`);
      if (p.root) lines.push(`  [proxy_plugins.${tomlString(name)}.exports]`, `    root = ${tomlString(p.root)}`);
    }
    if (o.extraToml) lines.push('', o.extraToml);
    return `${lines.join('\n')}\n`;
  }

  /** env is the environment containerd (and its shims) run with. */
  get env(): NodeJS.ProcessEnv {
    return { ...process.env, ...this.opts.env, PATH: trixiePath(this.opts.env?.PATH ?? process.env.PATH) };
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no containerd.log)';
    }
  }

  async #startProcess(): Promise<void> {
    const child = spawnLogged(CONTAINERD17, ['--config', this.configFile], this.logFile, this.env);
    this.#child = child;
    await waitFor('containerd', async () => {
      if (child.exitCode !== null) throw new Error('containerd exited');
      if (!(await socketAnswers(this.address))) return false;
      return (await this.ctr(['version'], { allowFail: true, timeoutMs: 10_000 })).code === 0;
    }, 30_000, () => this.logTail());
  }

  /** ctr runs the prefix's ctr against this containerd, in `opts.namespace` (default: this instance's). */
  ctr(args: readonly string[], opts: CtrOptions = {}): Promise<RunResult> {
    const { namespace, ...rest } = opts;
    return exec(CTR17, ['--address', this.address, '--namespace', namespace ?? this.namespace, ...args], rest);
  }

  /**
   * ctrRun runs `ctr run --rm --snapshotter S --runc-binary /usr/sbin/runc IMAGE ID CMD...` and
   * returns its output (ctr's --rm deletes the container and its snapshot afterwards).
   */
  ctrRun(image: string, id: string, cmd: readonly string[], opts: CtrOptions & { snapshotter?: string; runArgs?: readonly string[] } = {}): Promise<RunResult> {
    const { snapshotter, runArgs, ...rest } = opts;
    return this.ctr(['run', '--rm', '--snapshotter', snapshotter ?? 'overlayfs', '--runc-binary', RUNC, ...(runArgs ?? []), image, id, ...cmd], rest);
  }

  /** kill ends containerd with a signal and waits for it (SIGKILL simulates a crash; shims live on). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await killPid(this.#child?.pid, signal);
  }

  /** stopProcess stops containerd by pid (SIGTERM, then SIGKILL after `graceMs`); dirs stay. */
  async stopProcess(graceMs = 15_000): Promise<void> {
    await stopPid(this.#child?.pid, graceMs);
  }

  /** startProcess starts containerd again on the same config and dirs (after stopProcess or kill). */
  async startProcess(): Promise<void> {
    if (alive(this.#child?.pid)) throw new Error('containerd is still running');
    await this.#startProcess();
  }

  /** restart stops containerd by pid (or kills it with `signal`) and starts it again with the same dirs. */
  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (signal === 'SIGKILL') await this.kill('SIGKILL');
    else await this.stopProcess();
    await this.#startProcess();
  }

  /** shimPids lists the containerd-shim-runc-v2 processes started by this containerd (their -address is ours). */
  shimPids(): number[] {
    const pids: number[] = [];
    for (const entry of readdirSafe('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      } catch {
        continue;
      }
      if (!argv[0]?.endsWith('containerd-shim-runc-v2')) continue;
      const i = argv.indexOf('-address');
      if (i >= 0 && argv[i + 1] === this.address) pids.push(Number(entry));
    }
    return pids;
  }

  /** killTasks kills and deletes every task in every namespace (best effort), so the shims exit. */
  async killTasks(): Promise<void> {
    if (!this.pid) return;
    const ns = await this.ctr(['namespaces', 'ls', '-q'], { allowFail: true, timeoutMs: 10_000 });
    for (const n of ns.stdout.split('\n').filter(Boolean)) {
      const tasks = await this.ctr(['tasks', 'ls', '-q'], { namespace: n, allowFail: true, timeoutMs: 10_000 });
      for (const id of tasks.stdout.split('\n').filter(Boolean)) {
        await this.ctr(['tasks', 'kill', '-a', '-s', 'SIGKILL', id], { namespace: n, allowFail: true, timeoutMs: 10_000 });
        await this.ctr(['tasks', 'delete', '-f', id], { namespace: n, allowFail: true, timeoutMs: 20_000 });
      }
    }
  }

  /**
   * stop kills any tasks left, stops containerd and any shim of its own by pid, lazily unmounts
   * whatever is still mounted under its dir, and removes the dir (kept with STRATA_TEST_KEEP=1).
   * It returns the mounts it had to unmount, and throws (after cleaning up) when there were
   * any, unless `allowLeftoverMounts`.
   */
  async stop(opts: { allowLeftoverMounts?: boolean } = {}): Promise<string[]> {
    const namespaces = new Set([this.namespace]);
    if (this.pid) for (const n of (await this.ctr(['namespaces', 'ls', '-q'], { allowFail: true, timeoutMs: 10_000 })).stdout.split('\n')) if (n) namespaces.add(n);
    await this.killTasks().catch(() => undefined);
    await this.stopProcess();
    for (const pid of this.shimPids()) await stopPid(pid, 5_000);
    const leftover = mountsUnder(this.base);
    for (let round = 0; round < 5 && mountsUnder(this.base).length; round++) {
      for (const m of mountsUnder(this.base).sort((a, b) => b.length - a.length)) await exec('umount', ['-l', m], { allowFail: true });
    }
    if (process.env.STRATA_TEST_KEEP !== '1') await rm(this.base, { recursive: true, force: true, maxRetries: 3 });
    // The shim's runc keeps its state in /run/containerd/runc/<namespace> whatever our state dir is; drop the empty dirs.
    for (const n of namespaces) await rmdir(path.join('/run/containerd/runc', n)).catch(() => undefined);
    if (leftover.length && !opts.allowLeftoverMounts) throw new Error(`mounts were left behind under ${this.base}: ${leftover.join(', ')}`);
    return leftover;
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
