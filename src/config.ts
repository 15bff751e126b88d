/** Settings of `strata serve` and `strata snapshotter`: zod schemas for flags and environment, with defaults that just work. */
import { z } from 'zod';
import { parseSizeLimit } from './store/size-limit';

export const DEFAULT_SOCKET = '/run/docker/plugins/strata.sock';
export const DEFAULT_STATE_DIR = '/var/lib/strata';
/** long enough to span docker create → start of one `docker run`, short enough to leave no mounts behind */
export const DEFAULT_IDLE_UNMOUNT_MS = 2000;

const AbsolutePath = z.string().min(1).refine((p) => p.startsWith('/'), 'must be an absolute path');
const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/** MetricsAddress is where the Prometheus endpoint listens: a TCP `host:port` or the absolute path of a unix socket. */
export type MetricsAddress = { host: string; port: number } | { path: string };

/**
 * MetricsAddressSchema reads `--metrics-address`: `127.0.0.1:9464`, `[::1]:9464`, `localhost:9464`
 * or `/run/strata/metrics.sock`. An empty host is refused: listening on every interface is a
 * choice to spell out (`0.0.0.0:9464`).
 */
const MetricsAddressSchema = z.string().transform((text, ctx): MetricsAddress => {
  if (text.startsWith('/')) return { path: text };
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'must be host:port (port 1-65535) or the absolute path of a unix socket' });
    return z.NEVER;
  }
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
});

export const ConfigSchema = z.object({
  socket: AbsolutePath.default(DEFAULT_SOCKET),
  stateDir: AbsolutePath.default(DEFAULT_STATE_DIR),
  logLevel: LogLevel,
  /** how long a layer stays mounted after its last Put (0: unmount at Put, as overlay2 does) */
  idleUnmountMs: z.coerce.number().int().min(0).max(600_000).default(DEFAULT_IDLE_UNMOUNT_MS),
  /** where to serve Prometheus metrics; none by default */
  metricsAddress: MetricsAddressSchema.optional(),
});

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

const FLAGS: Record<string, keyof Config> = {
  '--socket': 'socket',
  '--state-dir': 'stateDir',
  '--log-level': 'logLevel',
  '--idle-unmount-ms': 'idleUnmountMs',
  '--metrics-address': 'metricsAddress',
};
const ENV: Record<string, keyof Config> = {
  STRATA_SOCKET: 'socket',
  STRATA_STATE_DIR: 'stateDir',
  STRATA_LOG_LEVEL: 'logLevel',
  STRATA_IDLE_UNMOUNT_MS: 'idleUnmountMs',
  STRATA_METRICS_ADDRESS: 'metricsAddress',
};

/** configFlags lists the flags for help texts. */
export const configFlags = Object.keys(FLAGS);

/**
 * readSettings reads settings from flags (`--x value` or `--x=value`) over environment variables
 * over the schema's defaults. It throws an Error with a readable message for unknown flags or
 * bad values.
 */
function readSettings<S extends z.ZodObject>(schema: S, flags: Record<string, string>, envNames: Record<string, string>, args: readonly string[], env: NodeJS.ProcessEnv): Readonly<z.output<S>> {
  const raw: Record<string, string> = {};
  for (const [name, key] of Object.entries(envNames)) if (env[name]) raw[key] = env[name]!;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const key = flags[flag];
    if (!key) throw new Error(`unknown option ${flag} (known: ${Object.keys(flags).join(', ')})`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new Error(`option ${flag} needs a value`);
    raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`);
    throw new Error(`invalid settings: ${issues.join('; ')}`);
  }
  return Object.freeze(parsed.data);
}

/** parseConfig reads the settings of `strata serve` (see readSettings). */
export function parseConfig(args: readonly string[], env: NodeJS.ProcessEnv): Config {
  return readSettings(ConfigSchema, FLAGS, ENV, args, env);
}

export const DEFAULT_SNAPSHOTTER_SOCKET = '/run/strata/snapshotter.sock';
export const DEFAULT_SNAPSHOTTER_ROOT = '/var/lib/strata/snapshotter';

export const DEFAULT_CONTAINERD_ADDRESS = '/run/containerd/containerd.sock';
export const DEFAULT_DIFF_GZIP_LEVEL = 1;

export const SnapshotterConfigSchema = z.object({
  socket: AbsolutePath.default(DEFAULT_SNAPSHOTTER_SOCKET),
  root: AbsolutePath.default(DEFAULT_SNAPSHOTTER_ROOT),
  logLevel: LogLevel,
  /** containerd's socket: the differ reads and writes layers in its content store */
  containerdAddress: AbsolutePath.default(DEFAULT_CONTAINERD_ADDRESS),
  diffGzipLevel: z.coerce.number().int().min(1).max(9).default(DEFAULT_DIFF_GZIP_LEVEL),
  metricsAddress: MetricsAddressSchema.optional(),
  /** limit of every container's active snapshot that has no containerd.io/snapshot/max-size label (unpacks excepted) */
  defaultSizeLimit: z
    .string()
    .transform((text, ctx) => {
      try {
        return parseSizeLimit('--default-size-limit', text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
});

/** SnapshotterConfig holds the settings of `strata snapshotter`. */
export type SnapshotterConfig = Readonly<z.infer<typeof SnapshotterConfigSchema>>;

const SNAPSHOTTER_FLAGS: Record<string, keyof SnapshotterConfig> = {
  '--socket': 'socket',
  '--root': 'root',
  '--log-level': 'logLevel',
  '--containerd-address': 'containerdAddress',
  '--diff-gzip-level': 'diffGzipLevel',
  '--metrics-address': 'metricsAddress',
  '--default-size-limit': 'defaultSizeLimit',
};
const SNAPSHOTTER_ENV: Record<string, keyof SnapshotterConfig> = {
  STRATA_SNAPSHOTTER_SOCKET: 'socket',
  STRATA_SNAPSHOTTER_ROOT: 'root',
  STRATA_LOG_LEVEL: 'logLevel',
  STRATA_CONTAINERD_ADDRESS: 'containerdAddress',
  STRATA_DIFF_GZIP_LEVEL: 'diffGzipLevel',
  STRATA_METRICS_ADDRESS: 'metricsAddress',
  STRATA_DEFAULT_SIZE_LIMIT: 'defaultSizeLimit',
};

/** parseSnapshotterConfig reads the settings of `strata snapshotter` (see readSettings). */
export function parseSnapshotterConfig(args: readonly string[], env: NodeJS.ProcessEnv): SnapshotterConfig {
  return readSettings(SnapshotterConfigSchema, SNAPSHOTTER_FLAGS, SNAPSHOTTER_ENV, args, env);
}
