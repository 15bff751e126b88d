/**
 * GraphDriver's options: the daemon-wide ones of Init (`"storage-opts"` in daemon.json) and the
 * per-layer `--storage-opt` of Create and CreateReadWrite. `size` is the one Strata takes, as
 * overlay2 does; its daemon-wide default is `strata.size`, as overlay2's is `overlay2.size`.
 */
import { InvalidArgumentError } from '../errors';
import { parseSizeLimit } from '../store/size-limit';

/** SizeLimit is a limit in bytes and how the user named it (for errors that come later). */
export interface SizeLimit {
  bytes: number;
  option: string;
}

/** DriverOptions are the parsed Init options. */
export interface DriverOptions {
  /** defaultSizeLimit applies to every read-write layer created without its own size */
  defaultSizeLimit?: SizeLimit;
}

export const DEFAULT_SIZE_OPTION = 'strata.size';
const RUN_SIZE_OPTION = '--storage-opt size';

/** parseDriverOptions reads Init's "key=value" options; an unknown key or a bad size is refused by name. */
export function parseDriverOptions(options: readonly string[]): DriverOptions {
  const parsed: DriverOptions = {};
  for (const opt of options) {
    const eq = opt.indexOf('=');
    const key = (eq < 0 ? opt : opt.slice(0, eq)).trim().toLowerCase();
    if (key !== DEFAULT_SIZE_OPTION || eq < 0) throw new InvalidArgumentError(`unknown storage option ${JSON.stringify(opt)}: strata takes ${DEFAULT_SIZE_OPTION}=<size> only`);
    parsed.defaultSizeLimit = { bytes: parseSizeLimit(DEFAULT_SIZE_OPTION, opt.slice(eq + 1)), option: DEFAULT_SIZE_OPTION };
  }
  return parsed;
}

/**
 * requestedSizeLimit checks the storage options of a Create and gives the size limit it asks
 * for: its own `size`, else the daemon default for a read-write layer.
 */
export function requestedSizeLimit(storageOpt: Record<string, string> | undefined, readWrite: boolean, options: DriverOptions): SizeLimit | undefined {
  let own: SizeLimit | undefined;
  for (const [key, value] of Object.entries(storageOpt ?? {})) {
    if (key.toLowerCase() !== 'size') throw new InvalidArgumentError(`unknown storage option ${JSON.stringify(key)}: strata takes --storage-opt size=<size> only`);
    if (!readWrite) throw new InvalidArgumentError('--storage-opt size is only supported for read-write layers');
    own = { bytes: parseSizeLimit(RUN_SIZE_OPTION, value), option: RUN_SIZE_OPTION };
  }
  return own ?? (readWrite ? options.defaultSizeLimit : undefined);
}

/**
 * takesSizeLimit tells whether a layer gets the limit its Create asks for. Docker's `<id>-init`
 * layer carries the options of its container, but only Docker writes there (a few mount points
 * and /etc files), so it stays unlimited rather than costing a second filesystem per container;
 * the container layer above it gets the limit.
 */
export function takesSizeLimit(id: string): boolean {
  return !id.endsWith('-init');
}
