import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_IDLE_UNMOUNT_MS, DEFAULT_SOCKET, DEFAULT_STATE_DIR, configFlags, parseConfig, parseSnapshotterConfig } from '../../src/config';

describe('parseConfig', () => {
  it('uses the defaults with no flags and no environment', () => {
    assert.deepEqual({ ...parseConfig([], {}) }, { socket: DEFAULT_SOCKET, stateDir: DEFAULT_STATE_DIR, logLevel: 'info', idleUnmountMs: DEFAULT_IDLE_UNMOUNT_MS });
    assert.equal(DEFAULT_SOCKET, '/run/docker/plugins/strata.sock');
  });

  it('takes the environment over the defaults', () => {
    const c = parseConfig([], { STRATA_SOCKET: '/run/s.sock', STRATA_STATE_DIR: '/srv/state', STRATA_LOG_LEVEL: 'debug' });
    assert.deepEqual({ ...c }, { socket: '/run/s.sock', stateDir: '/srv/state', logLevel: 'debug', idleUnmountMs: DEFAULT_IDLE_UNMOUNT_MS });
  });

  it('takes flags over the environment, in both --x value and --x=value forms', () => {
    const env = { STRATA_SOCKET: '/run/env.sock', STRATA_LOG_LEVEL: 'debug', STRATA_STATE_DIR: '/env/state' };
    const c = parseConfig(['--socket', '/run/flag.sock', '--log-level=warn'], env);
    assert.deepEqual({ ...c }, { socket: '/run/flag.sock', stateDir: '/env/state', logLevel: 'warn', idleUnmountMs: DEFAULT_IDLE_UNMOUNT_MS });
  });

  it('ignores empty environment values', () => {
    assert.equal(parseConfig([], { STRATA_SOCKET: '' }).socket, DEFAULT_SOCKET);
  });

  it('returns a frozen object', () => {
    assert.ok(Object.isFrozen(parseConfig([], {})));
  });

  it('refuses unknown flags and names the known ones', () => {
    assert.throws(() => parseConfig(['--sokcet', '/x'], {}), /unknown option --sokcet.*--socket/);
    assert.throws(() => parseConfig(['serve'], {}), /unknown option/);
    assert.deepEqual(configFlags, ['--socket', '--state-dir', '--log-level', '--idle-unmount-ms', '--metrics-address']);
  });

  it('refuses a flag without a value', () => {
    assert.throws(() => parseConfig(['--socket'], {}), /needs a value/);
  });

  it('refuses a relative socket path, from flags and from the environment', () => {
    assert.throws(() => parseConfig(['--socket', 'strata.sock'], {}), /socket: must be an absolute path/);
    assert.throws(() => parseConfig([], { STRATA_SOCKET: './strata.sock' }), /socket: must be an absolute path/);
    assert.throws(() => parseConfig(['--state-dir=var/lib/strata'], {}), /stateDir: must be an absolute path/);
  });

  it('takes the idle unmount delay in whole milliseconds, 0 meaning unmount at Put', () => {
    assert.equal(parseConfig(['--idle-unmount-ms', '0'], {}).idleUnmountMs, 0);
    assert.equal(parseConfig([], { STRATA_IDLE_UNMOUNT_MS: '500' }).idleUnmountMs, 500);
    assert.throws(() => parseConfig(['--idle-unmount-ms=-1'], {}), /idleUnmountMs/);
    assert.throws(() => parseConfig(['--idle-unmount-ms=soon'], {}), /idleUnmountMs/);
    assert.throws(() => parseConfig(['--idle-unmount-ms=1.5'], {}), /idleUnmountMs/);
  });

  it('refuses an unknown log level', () => {
    assert.throws(() => parseConfig(['--log-level', 'loud'], {}), /logLevel/);
  });

  it('serves no metrics unless an address is given', () => {
    assert.equal(parseConfig([], {}).metricsAddress, undefined);
    assert.equal(parseSnapshotterConfig([], {}).metricsAddress, undefined);
  });

  it('takes a metrics address as host:port, [ipv6]:port or a unix socket path, from flags and the environment', () => {
    assert.deepEqual(parseConfig(['--metrics-address', '127.0.0.1:9464'], {}).metricsAddress, { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseConfig(['--metrics-address=[::1]:9464'], {}).metricsAddress, { host: '::1', port: 9464 });
    assert.deepEqual(parseConfig([], { STRATA_METRICS_ADDRESS: 'localhost:1' }).metricsAddress, { host: 'localhost', port: 1 });
    assert.deepEqual(parseSnapshotterConfig(['--metrics-address', '/run/strata/metrics.sock'], {}).metricsAddress, { path: '/run/strata/metrics.sock' });
  });

  it('refuses a metrics address without a host, with a bad port or a relative path', () => {
    for (const bad of [':9464', '9464', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', 'localhost:http', 'metrics.sock', 'a b:1']) {
      assert.throws(() => parseConfig(['--metrics-address', bad], {}), /metricsAddress: must be host:port/, bad);
    }
  });
});

describe('parseSnapshotterConfig', () => {
  it('takes a default size limit as --default-size-limit or STRATA_DEFAULT_SIZE_LIMIT, and refuses one that is not a size by name', () => {
    assert.equal(parseSnapshotterConfig(['--default-size-limit', '10G'], {}).defaultSizeLimit, 10 * 1024 ** 3);
    assert.equal(parseSnapshotterConfig([], { STRATA_DEFAULT_SIZE_LIMIT: '64M' }).defaultSizeLimit, 64 * 1024 ** 2);
    assert.equal(parseSnapshotterConfig([], {}).defaultSizeLimit, undefined);
    assert.throws(() => parseSnapshotterConfig(['--default-size-limit=lots'], {}), /defaultSizeLimit: invalid --default-size-limit="lots": not a size/);
    assert.throws(() => parseSnapshotterConfig(['--default-size-limit=1M'], {}), /below the smallest limit/);
  });

  it('defaults to /run/strata/snapshotter.sock and /var/lib/strata/snapshotter', () => {
    assert.deepEqual({ ...parseSnapshotterConfig([], {}) }, {
      socket: '/run/strata/snapshotter.sock',
      root: '/var/lib/strata/snapshotter',
      logLevel: 'info',
      containerdAddress: '/run/containerd/containerd.sock',
      diffGzipLevel: 1,
    });
  });

  it('takes flags over the environment and refuses relative paths and unknown flags', () => {
    const c = parseSnapshotterConfig(['--root=/srv/snap', '--log-level', 'warn'], { STRATA_SNAPSHOTTER_SOCKET: '/run/x.sock', STRATA_SNAPSHOTTER_ROOT: '/env/root' });
    assert.deepEqual({ ...c }, { socket: '/run/x.sock', root: '/srv/snap', logLevel: 'warn', containerdAddress: '/run/containerd/containerd.sock', diffGzipLevel: 1 });
    const differ = parseSnapshotterConfig(['--containerd-address', '/run/c.sock', '--diff-gzip-level=6'], {});
    assert.deepEqual([differ.containerdAddress, differ.diffGzipLevel], ['/run/c.sock', 6]);
    assert.throws(() => parseSnapshotterConfig(['--diff-gzip-level', '0'], {}), /diffGzipLevel/);
    assert.throws(() => parseSnapshotterConfig(['--containerd-address', 'containerd.sock'], {}), /containerdAddress: must be an absolute path/);
    assert.throws(() => parseSnapshotterConfig(['--root', 'snap'], {}), /root: must be an absolute path/);
    assert.throws(() => parseSnapshotterConfig(['--state-dir', '/x'], {}), /unknown option --state-dir.*--root/);
  });
});
