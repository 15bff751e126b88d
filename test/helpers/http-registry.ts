/**
 * A plain-HTTP Docker registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1 for
 * containerd's CRI pulls, stopped by pid; and a push of an OCI image straight through the
 * registry's HTTP API (blob uploads, then the manifest), so no docker, skopeo or network is
 * needed. containerd is told to use plain HTTP for it with a CRI registry mirror (`criMirrorToml`).
 */
import { type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawnLogged, stopPid, waitFor } from './dockerd';
import { sha256File } from './image-archive';
import { freePort } from './free-port';
import { DOCKER_REGISTRY } from './tiers';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** ImageConfig is what an image runs: its entrypoint and command. */
export interface ImageRun {
  entrypoint?: string[];
  cmd?: string[];
}

/** PushedImage names what was pushed: the reference, the manifest's digest, the layers' digests and diff ids. */
export interface PushedImage {
  ref: string;
  manifestDigest: string;
  layerDigests: string[];
  diffIds: string[];
}

export class HttpRegistry {
  private constructor(readonly dir: string, readonly address: string, readonly process: ChildProcess) {}

  /** start runs docker-registry on plain HTTP with its config, storage and log in `dir`, and waits until it answers. */
  static async start(dir: string): Promise<HttpRegistry> {
    await mkdir(path.join(dir, 'storage'), { recursive: true });
    const address = `127.0.0.1:${await freePort()}`;
    const config = { version: '0.1', log: { level: 'info' }, storage: { filesystem: { rootdirectory: path.join(dir, 'storage') }, delete: { enabled: true } }, http: { addr: address } };
    // JSON is YAML, so the config needs no YAML writer.
    await writeFile(path.join(dir, 'config.yml'), JSON.stringify(config));
    const child = spawnLogged(DOCKER_REGISTRY, ['serve', path.join(dir, 'config.yml')], path.join(dir, 'registry.log'));
    const registry = new HttpRegistry(dir, address, child);
    try {
      await waitFor(`registry on ${address}`, async () => {
        if (child.exitCode !== null) throw new Error('docker-registry exited');
        return (await registry.request('GET', '/v2/').catch(() => ({ status: 0 }))).status === 200;
      }, 20_000, () => registry.logTail());
    } catch (err) {
      await registry.stop();
      throw err;
    }
    return registry;
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(path.join(this.dir, 'registry.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no registry.log)';
    }
  }

  /** request sends one HTTP request to the registry (`apiPath` may be a full URL, as upload Locations are). */
  request(method: string, apiPath: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
    const url = new URL(apiPath, `http://${this.address}`);
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** pushBlob uploads one blob monolithically (POST an upload, PUT it with its digest) and returns the digest. */
  async pushBlob(repo: string, data: Buffer | string): Promise<string> {
    const digest = sha256(data);
    const started = await this.request('POST', `/v2/${repo}/blobs/uploads/`);
    if (started.status !== 202 || !started.headers.location) throw new Error(`blob upload to ${repo}: ${started.status} ${started.body.toString()}`);
    const location = new URL(started.headers.location, `http://${this.address}`);
    location.searchParams.set('digest', digest);
    const put = await this.request('PUT', location.toString(), data, { 'content-type': 'application/octet-stream' });
    if (put.status !== 201) throw new Error(`blob PUT ${digest} to ${repo}: ${put.status} ${put.body.toString()}`);
    return digest;
  }

  /**
   * pushImage pushes an OCI image of `layerTars` (uncompressed tars, base first; each is gzipped
   * for the registry) as `repo:tag`, running `run`, and returns its reference and digests.
   */
  async pushImage(repo: string, tag: string, layerTars: readonly string[], run: ImageRun): Promise<PushedImage> {
    const diffIds: string[] = [];
    const layers: Array<{ mediaType: string; digest: string; size: number }> = [];
    for (const tar of layerTars) {
      diffIds.push(`sha256:${await sha256File(tar)}`);
      // A fixed mtime-free gzip: the same tar gives the same blob, so images share their base layer.
      const gz = gzipSync(await readFile(tar));
      layers.push({ mediaType: OCI_LAYER_GZIP, digest: await this.pushBlob(repo, gz), size: gz.length });
    }
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: run.entrypoint, Cmd: run.cmd, Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: layerTars.map(() => ({ created_by: 'strata test image' })),
    });
    const configDigest = await this.pushBlob(repo, config);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: Buffer.byteLength(config) },
      layers,
    });
    const put = await this.request('PUT', `/v2/${repo}/manifests/${tag}`, manifest, { 'content-type': OCI_MANIFEST });
    if (put.status !== 201) throw new Error(`manifest PUT ${repo}:${tag}: ${put.status} ${put.body.toString()}`);
    return { ref: `${this.address}/${repo}:${tag}`, manifestDigest: sha256(manifest), layerDigests: layers.map((l) => l.digest), diffIds };
  }

  /** criMirrorToml is the CRI config that makes containerd 1.7 pull from this registry over plain HTTP. */
  criMirrorToml(): string {
    return [
      `  [plugins."io.containerd.grpc.v1.cri".registry.mirrors.${JSON.stringify(this.address)}]`,
      `    endpoint = [${JSON.stringify(`http://${this.address}`)}]`,
    ].join('\n');
  }

  stop(): Promise<void> {
    return stopPid(this.process.pid, 10_000);
  }
}
