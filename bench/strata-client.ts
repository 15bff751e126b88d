/**
 * A standalone Strata for the layer benchmarks, and a client that speaks to it over its unix
 * socket the way dockerd does: POST with no Content-Type, ids of ApplyDiff in the query
 * string and the tar as a chunked body cut where dockerd cuts it, Diff answered with a raw tar.
 */
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { CLI, socketAnswers, spawnLogged, stopPid, waitFor } from '../test/helpers/dockerd';
import { dockerdPieces } from '../test/helpers/tar-build';
import { SERVE_NODE_ARGS } from '../src/node-args';

const ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

/** StrataServer is one Strata process on its own socket, initialised with its own home. */
export class StrataServer {
  private constructor(
    readonly socket: string,
    readonly home: string,
    readonly child: ChildProcess,
  ) {}

  /** start runs Strata from this checkout's build, with `nodeArgs` for node (e.g. --cpu-prof), and sends Init. */
  static async start(dir: string, nodeArgs: readonly string[] = []): Promise<StrataServer> {
    const socket = path.join(dir, 'strata.sock');
    const child = spawnLogged(process.execPath, [...SERVE_NODE_ARGS, ...nodeArgs, CLI, 'serve', '--socket', socket, '--state-dir', path.join(dir, 'state'), '--log-level', 'warn'], path.join(dir, 'strata.log'));
    const server = new StrataServer(socket, path.join(dir, 'home'), child);
    try {
      await waitFor('strata socket', () => socketAnswers(socket), 20_000);
      await server.call('GraphDriver.Init', { Home: server.home, Opts: null, UIDMaps: null, GIDMaps: null });
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** diffDir is where a layer's files are, for comparing with GNU tar on the same data. */
  diffDir(id: string): string {
    return path.join(this.home, id, 'diff');
  }

  #request(pathAndQuery: string, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    return http.request({ socketPath: this.socket, method: 'POST', path: `/${pathAndQuery}`, headers: { Accept: ACCEPT } }, onResponse);
  }

  /** call sends one JSON request and returns the JSON reply; a non-200 status throws with its Err. */
  call(method: string, body: unknown): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const req = this.#request(method, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as Record<string, unknown>) : reject(new Error(`${method}: ${res.statusCode} ${text}`))));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body) + '\n');
    });
  }

  /** applyDiff sends the tar file as ApplyDiff's chunked body, in the chunks dockerd sends (dockerdPieces), and returns the reported size. */
  applyDiff(id: string, parent: string, tarFile: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = this.#request(`GraphDriver.ApplyDiff?id=${id}&parent=${parent}`, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(text) as { Size: number }).Size) : reject(new Error(`ApplyDiff: ${res.statusCode} ${text}`))));
      });
      req.on('error', reject);
      readFile(tarFile)
        .then(async (tar) => {
          for (const piece of dockerdPieces(tar)) if (!req.write(piece)) await once(req, 'drain');
          req.end();
        })
        .catch(reject);
    });
  }

  /** diffBytes reads the whole Diff tar of a layer and returns its length. */
  diffBytes(id: string, parent: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = this.#request('GraphDriver.Diff', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`Diff: status ${res.statusCode}`));
        }
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve(bytes));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ ID: id, Parent: parent }) + '\n');
    });
  }

  /** stop ends the process by pid (SIGTERM, so --cpu-prof writes its profile). */
  async stop(): Promise<void> {
    await stopPid(this.child.pid, 10_000);
  }
}
