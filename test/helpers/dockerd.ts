/**
 * An isolated Docker daemon for tests: its own containerd, dockerd and (for the strata driver)
 * its own Strata process, all in one temp directory, started and stopped by pid. Nothing is
 * shared with a system Docker: own data-root, exec-root, sockets, pidfile, empty config file,
 * containerd namespaces, and a uniquely named plugin socket.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { socketAnswers } from '../../src/sys/socket';
import { BUILDX26, CONTAINERD17, DOCKER, DOCKER26, DOCKERD, DOCKERD26, trixiePath } from './tiers';
import { SERVE_NODE_ARGS } from '../../src/node-args';
import { loopDevicesUnder } from './tmp-dir';

export { socketAnswers };

const REPO = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO, 'dist', 'src', 'cli.js');
const PLUGIN_DIR = '/run/docker/plugins';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** exec runs a command; it rejects with the command's stderr unless allowFail is set. */
export function exec(file: string, args: readonly string[], opts: { input?: string | Buffer; allowFail?: boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 300_000, encoding: 'utf8', env: opts.env ?? process.env }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? ((err as unknown as { code: number }).code) : 1) : 0;
      if (err && !opts.allowFail) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed (${code}): ${stderr || err.message}`));
      else resolve({ stdout, stderr, code });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

export function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, onFail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = async () => {
      if (await check().catch(() => false)) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}${onFail ? `\n${onFail()}` : ''}`));
      setTimeout(tick, 100);
    };
    void tick();
  });
}


/** alive tells whether a process with this pid exists. */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** killPid sends `signal` to one process and waits until it has exited (SIGKILL simulates a crash). */
export async function killPid(pid: number | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid!, signal);
  while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
}

/** stopDaemon stops a dockerd by pid: SIGTERM (it stops its containers and runs Cleanup) or SIGKILL, after which its pidfile is removed as a crash would leave it stale. */
export async function stopDaemon(pid: number | undefined, pidFile: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (signal === 'SIGKILL' && alive(pid)) {
    await killPid(pid, 'SIGKILL');
    await rm(pidFile, { force: true });
    return;
  }
  await stopPid(pid, 30_000);
}

export async function stopPid(pid: number | undefined, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid!, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid!, 'SIGKILL');
  while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
}

export function spawnLogged(file: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  // Reap the child so it never lingers as a zombie that still looks alive.
  child.on('exit', () => undefined);
  return child;
}

/** mountsUnder lists mount points in this namespace below `dir`. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && m.startsWith(prefix));
}

/** The programs a TestDaemon runs; the default is Debian 12's docker.io 20.10 and containerd 1.6. */
export interface DockerBinaries {
  dockerd: string;
  docker: string;
  containerd: string;
  /** PATH for containerd and dockerd (the shim comes from containerd's PATH); default process.env.PATH */
  path?: string;
  /** a docker CLI plugin to offer the client as `docker buildx` (and BuildKit `docker build`) */
  buildx?: string;
}

export const DOCKER20_BINARIES: DockerBinaries = { dockerd: DOCKERD, docker: DOCKER, containerd: 'containerd' };
/** Docker 26.1.5 and containerd 1.7.24 from Debian 13 (test/setup-trixie.sh; gate with needDocker26). */
export const DOCKER26_BINARIES: DockerBinaries = { dockerd: DOCKERD26, docker: DOCKER26, containerd: CONTAINERD17, path: trixiePath(), buildx: BUILDX26 };

/** writeDockerConfig makes a DOCKER_CONFIG directory: an empty config.json and, with `buildx`, cli-plugins/docker-buildx linked to it. */
export async function writeDockerConfig(dir: string, buildx?: string): Promise<string> {
  await mkdir(path.join(dir, 'cli-plugins'), { recursive: true });
  await writeFile(path.join(dir, 'config.json'), '{}\n');
  if (buildx) await symlink(buildx, path.join(dir, 'cli-plugins', 'docker-buildx'));
  return dir;
}

/** clientEnv is the docker client's environment: DOCKER_CONFIG set over process.env, or under a caller's own env. */
export function clientEnv(dockerConfig: string | undefined, env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  if (!dockerConfig) return env;
  return env ? { DOCKER_CONFIG: dockerConfig, ...env } : { ...process.env, DOCKER_CONFIG: dockerConfig };
}

export interface DaemonOptions {
  driver: 'strata' | 'overlay2';
  /** which dockerd, docker and containerd to run (default DOCKER20_BINARIES; DOCKER26_BINARIES for the GraphDriver route on Docker 26) */
  binaries?: DockerBinaries;
  /** extra dockerd flags, e.g. --userns-remap=default */
  dockerdArgs?: string[];
  /** environment for dockerd (e.g. DOCKER_BUILDKIT is a client setting; this is for the daemon) */
  env?: NodeJS.ProcessEnv;
  /** extra flags for the node process that runs Strata, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR'] */
  strataNodeArgs?: string[];
  /** the node binary that runs Strata (default: the one running the tests) */
  strataNode?: string;
  /** extra flags for `strata serve`, e.g. ['--metrics-address', '127.0.0.1:9464'] */
  strataArgs?: string[];
  /** mount a tmpfs of this size (e.g. '8g') on the data-root, so disk speed drops out of timings */
  tmpfsDataRoot?: string;
}

export class TestDaemon {
  readonly base: string;
  readonly driverName: string;
  readonly pluginSocket: string;
  #containerd?: ChildProcess;
  #dockerd?: ChildProcess;
  #strata?: ChildProcess;
  #storageDriver: string;
  readonly binaries: DockerBinaries;

  private constructor(base: string, readonly opts: DaemonOptions) {
    this.base = base;
    this.driverName = opts.driver === 'strata' ? `strata-t${randomBytes(4).toString('hex')}` : 'overlay2';
    this.pluginSocket = path.join(PLUGIN_DIR, `${this.driverName}.sock`);
    this.#storageDriver = this.driverName;
    this.binaries = opts.binaries ?? DOCKER20_BINARIES;
  }

  /** dockerConfig is the client's DOCKER_CONFIG when the binaries bring a buildx plugin. */
  get dockerConfig(): string | undefined {
    return this.binaries.buildx ? path.join(this.base, 'docker-config') : undefined;
  }

  #env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return { ...process.env, ...(this.binaries.path ? { PATH: this.binaries.path } : {}), ...extra };
  }

  /** start brings up containerd, Strata (if used) and dockerd, and waits until dockerd answers. */
  static async start(opts: DaemonOptions): Promise<TestDaemon> {
    const base = await mkdtemp(path.join(os.tmpdir(), 'strata-dockerd-'));
    const d = new TestDaemon(base, opts);
    try {
      await writeFile(path.join(base, 'daemon.json'), '{}');
      await writeFile(path.join(base, 'containerd.toml'), '');
      await mkdir(path.join(base, 'data'), { recursive: true });
      if (d.dockerConfig) await writeDockerConfig(d.dockerConfig, d.binaries.buildx);
      // dockerd refuses a data-root the remapped root cannot traverse (it checks for o+x).
      if (d.remapped) await Promise.all([base, d.dataRoot].map((dir) => chmod(dir, 0o711)));
      if (opts.tmpfsDataRoot) await exec('mount', ['-t', 'tmpfs', '-o', `size=${opts.tmpfsDataRoot},mode=0711`, 'strata-bench', d.dataRoot]);
      d.#containerd = spawnLogged(d.binaries.containerd, ['--config', path.join(base, 'containerd.toml'), '--root', path.join(base, 'containerd-root'), '--state', path.join(base, 'containerd-state'), '--address', d.containerdSocket], path.join(base, 'containerd.log'), d.#env());
      await waitFor('containerd', () => socketAnswers(d.containerdSocket), 30_000, () => d.logTail('containerd.log'));
      if (opts.driver === 'strata') await d.startStrata();
      await d.startDockerd();
    } catch (err) {
      await d.stop().catch(() => undefined);
      throw err;
    }
    return d;
  }

  get containerdSocket(): string {
    return path.join(this.base, 'containerd.sock');
  }
  get dockerSocket(): string {
    return path.join(this.base, 'docker.sock');
  }
  /** storageDriver is dockerd's current --storage-driver. */
  get storageDriver(): string {
    return this.#storageDriver;
  }
  /** containerdPluginsNamespace is where containerd runs this daemon's managed plugins. */
  get containerdPluginsNamespace(): string {
    return `nsp-${path.basename(this.base)}`;
  }
  get dataRoot(): string {
    return path.join(this.base, 'data');
  }
  /** remapped tells whether dockerd runs with --userns-remap. */
  get remapped(): boolean {
    return this.opts.dockerdArgs?.some((a) => a.startsWith('--userns-remap')) ?? false;
  }
  /** home is the driver's directory as dockerd passes it in Init (userns-remap adds a level). */
  get home(): string {
    if (!this.remapped) return path.join(this.dataRoot, this.driverName);
    const sub = readdirSyncSafe(this.dataRoot).find((n) => /^\d+\.\d+$/.test(n));
    return path.join(this.dataRoot, sub ?? '', this.driverName);
  }
  get strataPid(): number | undefined {
    return this.#strata?.pid;
  }
  get dockerdPid(): number | undefined {
    return this.#dockerd?.pid;
  }

  logTail(file: string, lines = 30): string {
    try {
      return readFileSync(path.join(this.base, file), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return `(no ${file})`;
    }
  }

  /** startStrata runs the plugin from this checkout's build on the daemon's plugin socket. */
  async startStrata(): Promise<void> {
    this.#strata = spawnLogged(this.opts.strataNode ?? process.execPath, [...SERVE_NODE_ARGS, ...(this.opts.strataNodeArgs ?? []), CLI, 'serve', '--socket', this.pluginSocket, '--state-dir', path.join(this.base, 'strata-state'), '--log-level', 'debug', ...(this.opts.strataArgs ?? [])], path.join(this.base, 'strata.log'));
    await waitFor('strata socket', () => socketAnswers(this.pluginSocket), 20_000, () => this.logTail('strata.log'));
  }

  /** killStrata stops the plugin process with a signal (SIGKILL simulates a crash). */
  async killStrata(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await killPid(this.#strata?.pid, signal);
  }

  #spawnDockerd(): ChildProcess {
    const b = this.base;
    const args = [
      '--data-root', this.dataRoot, '--exec-root', path.join(b, 'exec'), '-H', `unix://${this.dockerSocket}`,
      '--pidfile', path.join(b, 'docker.pid'), '--config-file', path.join(b, 'daemon.json'),
      '--containerd', this.containerdSocket, '--containerd-namespace', `ns-${path.basename(b)}`,
      '--containerd-plugins-namespace', this.containerdPluginsNamespace,
      '--iptables=false', '--ip-masq=false', '--bridge=none', '--experimental', '--storage-driver', this.#storageDriver,
      ...(this.opts.dockerdArgs ?? []),
    ];
    this.#dockerd = spawnLogged(this.binaries.dockerd, args, path.join(b, 'dockerd.log'), this.#env(this.opts.env));
    return this.#dockerd;
  }

  async startDockerd(): Promise<void> {
    const child = this.#spawnDockerd();
    await waitFor('dockerd', async () => {
      if (child.exitCode !== null) throw new Error('dockerd exited');
      return (await exec(this.binaries.docker, ['-H', `unix://${this.dockerSocket}`, 'version'], { allowFail: true, timeoutMs: 10_000 })).code === 0;
    }, 60_000, () => this.logTail('dockerd.log'));
  }

  /** startDockerdExpectingFailure starts dockerd and waits until it exits (e.g. its driver refused Init); it returns the exit code. */
  async startDockerdExpectingFailure(timeoutMs = 60_000): Promise<number> {
    const child = this.#spawnDockerd();
    await waitFor('dockerd to exit', async () => child.exitCode !== null, timeoutMs, () => this.logTail('dockerd.log'));
    return child.exitCode!;
  }

  /** stopDockerd stops dockerd by pid (SIGTERM, so it runs Cleanup) or kills it. */
  async stopDockerd(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await stopDaemon(this.#dockerd?.pid, path.join(this.base, 'docker.pid'), signal);
  }

  /**
   * restartDockerd restarts dockerd; with `storageDriver` it comes back with that
   * --storage-driver instead, e.g. a managed plugin such as `strata:0.1.0`.
   */
  async restartDockerd(storageDriver?: string): Promise<void> {
    await this.stopDockerd();
    if (storageDriver) this.#storageDriver = storageDriver;
    await this.startDockerd();
  }

  /** docker runs the client against this daemon. */
  docker(args: readonly string[], opts: { input?: string | Buffer; allowFail?: boolean; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
    return exec(this.binaries.docker, ['-H', `unix://${this.dockerSocket}`, ...args], { ...opts, env: clientEnv(this.dockerConfig, opts.env) });
  }

  /** stop ends everything by pid and removes the temp dir; it fails if mounts were left behind. */
  async stop(): Promise<void> {
    await stopPid(this.#dockerd?.pid, 30_000);
    await stopPid(this.#containerd?.pid, 15_000);
    await stopPid(this.#strata?.pid, 10_000);
    // The tmpfs data-root is ours to remove, not a leftover; everything mounted on it is.
    const leftover = mountsUnder(this.base).filter((m) => !(this.opts.tmpfsDataRoot && m === this.dataRoot));
    for (const m of leftover.sort((a, b) => b.length - a.length)) await exec('umount', ['-l', m], { allowFail: true });
    if (this.opts.tmpfsDataRoot && mountsUnder(this.base).includes(this.dataRoot)) await exec('umount', ['-l', this.dataRoot], { allowFail: true });
    // Loop devices of size-limited layers clear themselves once their filesystem is unmounted (the
    // kernel does it shortly after the unmount returns); one still attached after that was leaked.
    for (let i = 0; i < 50 && loopDevicesUnder(this.base).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    const loops = loopDevicesUnder(this.base);
    for (const device of loops) await exec('losetup', ['-d', device], { allowFail: true });
    await rm(this.pluginSocket, { force: true });
    if (process.env.STRATA_TEST_KEEP !== '1') await rm(this.base, { recursive: true, force: true, maxRetries: 3 });
    if (leftover.length) throw new Error(`mounts were left behind under ${this.base}: ${leftover.join(', ')}`);
    if (loops.length) throw new Error(`loop devices were left attached to files under ${this.base}: ${loops.join(', ')}`);
  }

  /** layerDirs lists the layer directories in the driver home (not l/ and not .strata). */
  async layerDirs(): Promise<string[]> {
    return readdirSyncSafe(this.home).filter((n) => n !== 'l' && !n.startsWith('.'));
  }
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * buildBusyboxRootfs makes a small root filesystem from the host's static busybox: every applet
 * as a symlink in /bin, /etc/passwd and /etc/group, and /tmp.
 */
export async function buildBusyboxRootfs(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  await mkdir(path.join(dir, 'etc'), { recursive: true });
  await mkdir(path.join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  await exec('cp', ['/bin/busybox', path.join(dir, 'bin', 'busybox')]);
  const applets = (await exec('/bin/busybox', ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox');
  await Promise.all(applets.map((a) => exec('ln', ['-sf', 'busybox', path.join(dir, 'bin', a)])));
  await writeFile(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await writeFile(path.join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  await exec('chmod', ['1777', path.join(dir, 'tmp')]);
}

/** importBusybox imports the busybox rootfs as `tag` into a daemon. */
export async function importBusybox(d: TestDaemon, tag = 'busybox:strata'): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-busybox-'));
  try {
    await buildBusyboxRootfs(dir);
    await exec('tar', ['-C', dir, '-cf', `${dir}.tar`, '.']);
    await d.docker(['import', '--change', 'CMD ["sh"]', `${dir}.tar`, tag]);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(`${dir}.tar`, { force: true });
  }
}

