#!/usr/bin/env -S node --max-semi-space-size=2 --heap-growing-percent=100
/** The command line: `strata serve` (default), `strata snapshotter`, `strata status`, `strata fsck` and `strata version`. */
import { parseConfig, parseSnapshotterConfig } from './config';
import { FSCK_USAGE, fsckMain } from './fsck/fsck';
import { serve } from './main';
import { VERSION } from './version';
import { run } from './sys/exec';
import { readMountInfo } from './sys/mountinfo';
import { KernelMounter } from './sys/mounter';
import { LoopFilesystems, listLoopDevices } from './sys/loop-fs';
import { STATUS_USAGE, statusMain } from './telemetry/status-command';

const USAGE = `usage: strata [serve] [--socket PATH] [--state-dir DIR] [--log-level LEVEL] [--idle-unmount-ms MS] [--metrics-address ADDR]
       strata snapshotter [--socket PATH] [--root DIR] [--log-level LEVEL] [--metrics-address ADDR]
                          [--containerd-address PATH] [--diff-gzip-level 1-9]
       strata status [--snapshotter] [--socket PATH] [--json] [--gc]
       strata fsck --home DIR [--docker-root DIR] [--repair] [--remove-unreferenced] [--json]
       strata version

  serve        run the GraphDriver plugin server (default)
  --socket     unix socket to listen on (env STRATA_SOCKET, default /run/docker/plugins/strata.sock)
  --state-dir  where Strata remembers dockerd's Init (env STRATA_STATE_DIR, default /var/lib/strata)
  --log-level  fatal|error|warn|info|debug|trace|silent (env STRATA_LOG_LEVEL, default info)
  --idle-unmount-ms  how long a layer stays mounted after its last Put (env STRATA_IDLE_UNMOUNT_MS, default 2000)
  --metrics-address  serve Prometheus metrics at GET /metrics on host:port or a unix socket path
                     (env STRATA_METRICS_ADDRESS, default none; also for snapshotter)

  snapshotter  run the containerd proxy snapshotter (gRPC)
  --socket     unix socket to listen on (env STRATA_SNAPSHOTTER_SOCKET, default /run/strata/snapshotter.sock)
  --root       where snapshots and their catalog live (env STRATA_SNAPSHOTTER_ROOT, default /var/lib/strata/snapshotter)
  --containerd-address  containerd's socket, for the differ's layers (env STRATA_CONTAINERD_ADDRESS,
               default /run/containerd/containerd.sock)
  --diff-gzip-level     gzip level of the layers the differ writes, 1 fastest to 9 smallest
               (env STRATA_DIFF_GZIP_LEVEL, default 1)

${STATUS_USAGE.split('\n').slice(2).join('\n')}

${FSCK_USAGE.replace(/^usage: /, '')}`;

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  const command = first && !first.startsWith('-') ? first : 'serve';
  const args = command === first ? rest : argv;
  switch (command) {
    case 'serve':
      await serve(parseConfig(args, process.env));
      return -1;
    case 'snapshotter': {
      // Loaded only here: the catalog needs node:sqlite (Node.js 22.13+), which the GraphDriver server does not.
      if (!process.getBuiltinModule?.('node:sqlite')) {
        console.error(`strata snapshotter needs Node.js 22.13 or later (this is ${process.version})`);
        return 2;
      }
      // Node 22's warning that SQLite is experimental would be a plain line amid the JSON log:
      // the default printer goes, and serveSnapshotter logs later warnings as JSON.
      process.removeAllListeners('warning');
      const { serveSnapshotter } = await import('./snapshotter-main');
      await serveSnapshotter(parseSnapshotterConfig(args, process.env));
      return -1;
    }
    case 'status':
      return statusMain(args, console.log, console.error);
    case 'fsck': {
      const mounter = new KernelMounter(run);
      return fsckMain(args, { mounter, loopFs: new LoopFilesystems(run, mounter), loopDevices: listLoopDevices, readMounts: readMountInfo }, console.log, console.error);
    }
    case 'version':
      console.log(VERSION);
      return 0;
    case 'help':
      console.log(USAGE);
      return 0;
    default:
      console.error(`strata: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`strata: ${(err as Error).message ?? String(err)}`);
    process.exitCode = 1;
  },
);
