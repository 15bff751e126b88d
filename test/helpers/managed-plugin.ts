/**
 * Helpers for testing Strata as a managed Docker plugin: the plugin/ scripts pointed at an
 * isolated TestDaemon, the plugin's process found through that daemon's own containerd, and a
 * Docker registry on loopback (Debian's docker-registry) with its storage in a temp dir.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { exec, spawnLogged, stopPid, waitFor, type RunResult, type TestDaemon } from './dockerd';
import { freePort } from './free-port';
import { DOCKER, DOCKER_REGISTRY } from './tiers';

const REPO = path.resolve(__dirname, '..', '..', '..');

/** PLUGIN_VERSION is the version the scripts tag the plugin with (package.json). */
export const PLUGIN_VERSION: string = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** pluginScript runs plugin/<name> with the docker client pointed at `d` (the scripts read DOCKER and DOCKER_HOST). */
export function pluginScript(d: TestDaemon | undefined, name: string, args: readonly string[]): Promise<RunResult> {
  const env = { ...process.env, DOCKER, ...(d ? { DOCKER_HOST: `unix://${d.dockerSocket}` } : {}) };
  return exec('bash', [path.join(REPO, 'plugin', name), ...args], { env, timeoutMs: 600_000 });
}

/** pluginId returns the id the daemon gave the plugin called `name`. */
export async function pluginId(d: TestDaemon, name: string): Promise<string> {
  return (await d.docker(['plugin', 'inspect', '-f', '{{.Id}}', name])).stdout.trim();
}

/**
 * pluginPid returns the pid of the plugin's process, or undefined while it is not running. It asks
 * the daemon's own containerd (its plugins namespace, task id = plugin id), so it can only find
 * processes of this daemon, and it checks that the pid really runs Strata.
 */
export async function pluginPid(d: TestDaemon, id: string): Promise<number | undefined> {
  const tasks = await exec('ctr', ['--address', d.containerdSocket, '--namespace', d.containerdPluginsNamespace, 'task', 'ls']);
  const row = tasks.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((cols) => cols[0] === id && cols[2] === 'RUNNING');
  if (!row) return undefined;
  const pid = Number(row[1]);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  if (!cmdline.includes('/opt/strata/dist/src/cli.js')) throw new Error(`task ${id} runs pid ${pid}, which is not Strata: ${cmdline.join(' ')}`);
  return pid;
}

/** waitForPluginPid waits until the plugin runs in a process other than `previous`. */
export async function waitForPluginPid(d: TestDaemon, id: string, previous?: number): Promise<number> {
  let pid: number | undefined;
  await waitFor(`plugin ${id} running`, async () => {
    pid = await pluginPid(d, id);
    return pid !== undefined && pid !== previous;
  }, 60_000, () => d.logTail('dockerd.log'));
  return pid!;
}

/** effectiveCapabilities returns the names of the capabilities in a process's effective set. */
export function effectiveCapabilities(pid: number): string[] {
  const hex = /^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  const bits = BigInt(`0x${hex}`);
  return CAPABILITY_NAMES.filter((_, bit) => (bits >> BigInt(bit)) & 1n);
}

/** networkOf tells whether a process shares our network namespace and which interfaces it sees. */
export function networkOf(pid: number): { ownNamespace: boolean; interfaces: string[] } {
  const interfaces = readFileSync(`/proc/${pid}/net/dev`, 'utf8')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter(Boolean);
  return { ownNamespace: readlinkSync(`/proc/${pid}/ns/net`) !== readlinkSync('/proc/self/ns/net'), interfaces };
}

// Linux capability numbers (include/uapi/linux/capability.h), index = bit.
const CAPABILITY_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** propagatedMount is where the host sees the plugin's PropagatedMount (protocol.md §1.6). */
export function propagatedMount(d: TestDaemon, id: string): string {
  return path.join(d.dataRoot, 'plugins', id, 'propagated-mount');
}

/**
 * LoopbackRegistry is a Docker registry on 127.0.0.1 with a self-signed certificate, stopped by
 * pid. NOTE: dockerd treats 127.0.0.0/8 as an insecure registry (TLS without verification, or
 * plain HTTP), but `docker plugin install` in 20.10 only tries the first endpoint, https, and
 * fails on a plain-HTTP registry ("server gave HTTP response to HTTPS client"), so it gets TLS.
 */
export class LoopbackRegistry {
  private constructor(readonly dir: string, readonly address: string, readonly process: ChildProcess) {}

  /** start runs docker-registry with its config, key, storage and log in `dir`, and waits until it answers. */
  static async start(dir: string): Promise<LoopbackRegistry> {
    await mkdir(path.join(dir, 'storage'), { recursive: true });
    const [key, cert] = [path.join(dir, 'registry.key'), path.join(dir, 'registry.crt')];
    await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
    const address = `127.0.0.1:${await freePort()}`;
    const config = {
      version: '0.1',
      log: { level: 'warn' },
      storage: { filesystem: { rootdirectory: path.join(dir, 'storage') } },
      http: { addr: address, tls: { certificate: cert, key } },
    };
    // JSON is YAML, so the config needs no YAML writer.
    await writeFile(path.join(dir, 'config.yml'), JSON.stringify(config));
    const child = spawnLogged(DOCKER_REGISTRY, ['serve', path.join(dir, 'config.yml')], path.join(dir, 'registry.log'));
    const registry = new LoopbackRegistry(dir, address, child);
    try {
      await waitFor(`registry on ${address}`, async () => {
        if (child.exitCode !== null) throw new Error('docker-registry exited');
        return (await registry.get('/v2/')).status === 200;
      }, 20_000, () => readFileSync(path.join(dir, 'registry.log'), 'utf8'));
    } catch (err) {
      await registry.stop();
      throw err;
    }
    return registry;
  }

  /** get fetches a registry API path, trusting only this registry's own certificate. */
  get(apiPath: string): Promise<{ status: number; body: string }> {
    const ca = readFileSync(path.join(this.dir, 'registry.crt'));
    return new Promise((resolve, reject) => {
      https
        .get(`https://${this.address}${apiPath}`, { ca }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  }

  /** repositories lists what the registry holds (its catalog). */
  async repositories(): Promise<string[]> {
    return (JSON.parse((await this.get('/v2/_catalog')).body) as { repositories: string[] }).repositories;
  }

  stop(): Promise<void> {
    return stopPid(this.process.pid, 10_000);
  }
}
