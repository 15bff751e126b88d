/**
 * Docker 26 on the containerd image store: the prefix's dockerd 26 (test/setup-trixie.sh)
 * pointed with --containerd at an isolated containerd 1.7 (containerd.ts), with
 * `"features": {"containerd-snapshotter": true}` and a snapshotter as its storage driver:
 * `overlayfs` (containerd's built-in) or the name of a proxy snapshotter in containerd's config
 * (e.g. `strata`). Own temp dir with data-root, exec-root, socket, pidfile, config file and
 * DOCKER_CONFIG (with the buildx plugin, so `docker build` is BuildKit); own containerd
 * namespaces. Started and stopped by pid; the containerd is the caller's and outlives it.
 *
 * dockerd 26 mounts container roots itself (under its data-root); the shim mounts them again
 * for the task. For the GraphDriver route on Docker 26 use TestDaemon with DOCKER26_BINARIES.
 */
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContainerd } from './containerd';
import { alive, clientEnv, exec, mountsUnder, spawnLogged, stopDaemon, waitFor, writeDockerConfig, type RunResult } from './dockerd';
import { BUILDX26, DOCKER26, DOCKERD26, trixiePath } from './tiers';

export interface Docker26Options {
  /** the containerd to use (its gRPC `address` becomes --containerd) */
  containerd: TestContainerd;
  /** `storage-driver` in the config file: `overlayfs` or a proxy snapshotter's name; default overlayfs */
  snapshotter?: string;
  /** more keys for dockerd's config file (merged over features + storage-driver) */
  daemonConfig?: Record<string, unknown>;
  /** extra dockerd flags */
  dockerdArgs?: string[];
  /** environment for dockerd */
  env?: NodeJS.ProcessEnv;
  /** --containerd-namespace; default `moby-<random>` (the plugins namespace is this plus `-plugins`) */
  namespace?: string;
}

export interface DockerOptions {
  input?: string | Buffer;
  allowFail?: boolean;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export class Docker26 {
  readonly base: string;
  readonly namespace: string;
  readonly containerd: TestContainerd;
  #dockerd?: ChildProcess;

  private constructor(base: string, readonly opts: Docker26Options) {
    this.base = base;
    this.containerd = opts.containerd;
    this.namespace = opts.namespace ?? `moby-${randomBytes(4).toString('hex')}`;
  }

  /** start writes the config and DOCKER_CONFIG, starts dockerd and waits until `docker version` answers. */
  static async start(opts: Docker26Options): Promise<Docker26> {
    const base = await mkdtemp(path.join(os.tmpdir(), 'strata-d26-'));
    const d = new Docker26(base, opts);
    try {
      await mkdir(d.dataRoot, { recursive: true });
      await writeFile(d.configFile, `${JSON.stringify(d.daemonConfig(), null, 2)}\n`);
      await writeDockerConfig(d.dockerConfig, BUILDX26);
      await d.startDockerd();
    } catch (err) {
      await d.stop({ allowLeftoverMounts: true }).catch(() => undefined);
      throw err;
    }
    return d;
  }

  get snapshotter(): string {
    return this.opts.snapshotter ?? 'overlayfs';
  }
  get dockerSocket(): string {
    return path.join(this.base, 'docker.sock');
  }
  get dataRoot(): string {
    return path.join(this.base, 'data');
  }
  get execRoot(): string {
    return path.join(this.base, 'exec');
  }
  get configFile(): string {
    return path.join(this.base, 'daemon.json');
  }
  get dockerConfig(): string {
    return path.join(this.base, 'docker-config');
  }
  get pluginsNamespace(): string {
    return `${this.namespace}-plugins`;
  }
  get logFile(): string {
    return path.join(this.base, 'dockerd.log');
  }
  get pid(): number | undefined {
    return alive(this.#dockerd?.pid) ? this.#dockerd!.pid : undefined;
  }

  /** daemonConfig is the content of dockerd's --config-file. */
  daemonConfig(): Record<string, unknown> {
    return { features: { 'containerd-snapshotter': true }, 'storage-driver': this.snapshotter, ...this.opts.daemonConfig };
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no dockerd.log)';
    }
  }

  #spawn(): ChildProcess {
    const args = [
      '--containerd', this.containerd.address,
      '--config-file', this.configFile,
      '--data-root', this.dataRoot, '--exec-root', this.execRoot,
      '-H', `unix://${this.dockerSocket}`, '--pidfile', path.join(this.base, 'docker.pid'),
      '--containerd-namespace', this.namespace, '--containerd-plugins-namespace', this.pluginsNamespace,
      '--iptables=false', '--ip6tables=false', '--bridge=none', '--ip-forward=false', '--ip-masq=false',
      ...(this.opts.dockerdArgs ?? []),
    ];
    const env = { ...process.env, ...this.opts.env, PATH: trixiePath(this.opts.env?.PATH ?? process.env.PATH) };
    this.#dockerd = spawnLogged(DOCKERD26, args, this.logFile, env);
    return this.#dockerd;
  }

  /** startDockerd starts dockerd (again) on the same dirs and waits until it answers. */
  async startDockerd(timeoutMs = 60_000): Promise<void> {
    if (this.pid) throw new Error('dockerd is still running');
    const child = this.#spawn();
    await waitFor('dockerd 26', async () => {
      if (child.exitCode !== null) throw new Error(`dockerd exited (${child.exitCode})`);
      return (await this.docker(['version'], { allowFail: true, timeoutMs: 10_000 })).code === 0;
    }, timeoutMs, () => this.logTail());
  }

  /** startDockerdExpectingFailure starts dockerd and waits until it exits; it returns the exit code. */
  async startDockerdExpectingFailure(timeoutMs = 60_000): Promise<number> {
    const child = this.#spawn();
    await waitFor('dockerd 26 to exit', async () => child.exitCode !== null, timeoutMs, () => this.logTail());
    return child.exitCode!;
  }

  /** stopDockerd stops dockerd by pid: SIGTERM (it stops its containers) or SIGKILL (a crash). */
  async stopDockerd(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await stopDaemon(this.#dockerd?.pid, path.join(this.base, 'docker.pid'), signal);
  }

  async restartDockerd(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await this.stopDockerd(signal);
    await this.startDockerd();
  }

  /** docker runs the prefix's docker 26 CLI against this daemon, with its DOCKER_CONFIG (buildx). */
  docker(args: readonly string[], opts: DockerOptions = {}): Promise<RunResult> {
    return exec(DOCKER26, ['-H', `unix://${this.dockerSocket}`, ...args], { ...opts, env: clientEnv(this.dockerConfig, opts.env) });
  }

  /** info is `docker info` as JSON. */
  async info(): Promise<{ Driver: string; DriverStatus: Array<[string, string]>; [k: string]: unknown }> {
    return JSON.parse((await this.docker(['info', '--format', '{{json .}}'])).stdout);
  }

  /**
   * stop stops dockerd by pid, lazily unmounts whatever is left under its dir and removes it
   * (kept with STRATA_TEST_KEEP=1). The containerd is left running. It returns the mounts it
   * had to unmount and throws (after cleaning up) when there were any, unless allowLeftoverMounts.
   */
  async stop(opts: { allowLeftoverMounts?: boolean } = {}): Promise<string[]> {
    await this.stopDockerd();
    const leftover = mountsUnder(this.base);
    for (let round = 0; round < 5 && mountsUnder(this.base).length; round++) {
      for (const m of mountsUnder(this.base).sort((a, b) => b.length - a.length)) await exec('umount', ['-l', m], { allowFail: true });
    }
    if (process.env.STRATA_TEST_KEEP !== '1') await rm(this.base, { recursive: true, force: true, maxRetries: 3 });
    if (leftover.length && !opts.allowLeftoverMounts) throw new Error(`mounts were left behind under ${this.base}: ${leftover.join(', ')}`);
    return leftover;
  }
}
