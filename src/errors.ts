/**
 * The one error hierarchy of Strata. Lower rooms (store, archive, sys) throw these; only
 * `server/error-handler.ts` turns them into `{"Err": …}` replies, with `status` as the HTTP code.
 */
export type ErrorCode =
  | 'STRATA_ERR_ARG_INVALID'
  | 'STRATA_ERR_LAYER_NOT_FOUND'
  | 'STRATA_ERR_LAYER_EXISTS'
  | 'STRATA_ERR_LAYER_BUSY'
  | 'STRATA_ERR_TAR_UNSAFE_ENTRY'
  | 'STRATA_ERR_TAR_INVALID'
  | 'STRATA_ERR_CMD_FAILED'
  | 'STRATA_ERR_KERNEL_UNSUPPORTED'
  | 'STRATA_ERR_NOT_INITIALISED'
  | 'STRATA_ERR_NOT_IMPLEMENTED'
  | 'STRATA_ERR_UPSTREAM'
  | 'STRATA_ERR_IO';

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options?.status ?? 500;
  }
}

export class InvalidArgumentError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STRATA_ERR_ARG_INVALID', message, { ...options, status: 400 });
  }
}

export class NotFoundError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STRATA_ERR_LAYER_NOT_FOUND', message, { ...options, status: 404 });
  }
}

export class AlreadyExistsError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STRATA_ERR_LAYER_EXISTS', message, { ...options, status: 409 });
  }
}

export class FailedPreconditionError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STRATA_ERR_LAYER_BUSY', message, { ...options, status: 409 });
  }
}

/** A tar entry that would write outside its layer, or that cannot be represented safely. */
export class UnsafeArchiveError extends StrataError {
  readonly entry: string;
  constructor(entry: string, reason: string) {
    super('STRATA_ERR_TAR_UNSAFE_ENTRY', `refused tar entry ${JSON.stringify(entry)}: ${reason}`, { status: 400 });
    this.entry = entry;
  }
}

/**
 * A tar stream that is malformed or ends early. `entry` is the offending entry's name as the
 * archive spells it (a latin1 byte string), when the fault lies in one; the message then
 * names it, decoded as UTF-8. `reason` is the message without the entry.
 */
export class InvalidArchiveError extends StrataError {
  readonly entry: string | undefined;
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown; entry?: string }) {
    const entry = options?.entry;
    const text = entry === undefined ? '' : Buffer.from(entry, 'latin1').toString('utf8');
    const shown = JSON.stringify(text.length > 256 ? `${text.slice(0, 256)}…` : text);
    super('STRATA_ERR_TAR_INVALID', entry === undefined ? reason : `invalid tar entry ${shown}: ${reason}`, { cause: options?.cause, status: 400 });
    this.entry = entry;
    this.reason = reason;
  }

  /** inEntry returns the error naming `entry`, unless it names one already. */
  inEntry(entry: string): InvalidArchiveError {
    return this.entry === undefined ? new InvalidArchiveError(this.reason, { entry, cause: this.cause }) : this;
  }
}

export class CommandFailedError extends StrataError {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderrTail: string;
  constructor(argv: readonly string[], exitCode: number | null, signal: string | null, stderr: string, cause?: unknown) {
    const how = signal ? `killed by ${signal}` : exitCode === null ? 'could not start' : `exit code ${exitCode}`;
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    super('STRATA_ERR_CMD_FAILED', `${argv[0]} failed (${how})${tail ? `: ${tail}` : ''}`, { cause });
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderrTail = tail;
  }
}

/**
 * A mount or unmount the mount helper (sys/mount-helper.ts) refused, the kernel failed, or the
 * helper's exit cut short: the same kind as a failed `mount`/`umount` command, named the same way.
 */
export class MountFailedError extends StrataError {
  /** the kernel's errno name, when the kernel is what failed */
  readonly errno: string | undefined;
  constructor(operation: 'mount' | 'umount', reason: string, errno?: string) {
    super('STRATA_ERR_CMD_FAILED', `${operation} failed: ${reason}`);
    this.errno = errno;
  }
}

export class NotSupportedError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STRATA_ERR_KERNEL_UNSUPPORTED', message, options);
  }
}

export class NotInitialisedError extends StrataError {
  constructor() {
    super('STRATA_ERR_NOT_INITIALISED', 'strata has not been initialised: dockerd has not sent GraphDriver.Init yet', {
      status: 503,
    });
  }
}

/**
 * A request this implementation does not take on, for another to serve: containerd's diff
 * service passes a call its differ answers this way on to the next differ in its list.
 */
export class NotImplementedError extends StrataError {
  constructor(message: string) {
    super('STRATA_ERR_NOT_IMPLEMENTED', message, { status: 501 });
  }
}

/** A service Strata relies on (containerd's content store) failed or could not be reached. */
export class UpstreamError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STRATA_ERR_UPSTREAM', message, { ...options, status: 503 });
  }
}

/** A filesystem failure with the operation and path it happened on (ENOSPC, EIO, …). */
export class IoError extends StrataError {
  readonly errno: string | undefined;
  constructor(what: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const detail = errno === 'ENOSPC' ? 'no space left on device' : errno === 'EDQUOT' ? 'disk quota exceeded' : withoutPath(cause);
    super('STRATA_ERR_IO', `${what}: ${detail}`, { cause });
    this.errno = errno;
  }
}

/**
 * withoutPath gives an error's message without the host path that Node appends to system errors
 * ("EACCES: permission denied, open '/var/lib/…'" becomes "EACCES: permission denied"): messages
 * go to clients, which must not learn where the store lives.
 */
function withoutPath(cause: unknown): string {
  const message = String((cause as Error)?.message ?? cause);
  const { syscall, path } = (cause ?? {}) as NodeJS.ErrnoException;
  if (!syscall || path === undefined) return message;
  const cut = message.indexOf(`, ${syscall}`);
  return cut > 0 ? message.slice(0, cut) : message;
}

/** errnoOf returns the Node errno code of an error, or undefined. */
export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * errorKind names the kind of a request's error for metrics and `strata status`: our codes
 * without their prefix (`tar_invalid`, `layer_not_found`, …), `bad_request` for a request the
 * HTTP layer refused (a body too large or not JSON), `internal` for anything else.
 */
export function errorKind(err: unknown): string {
  if (err instanceof StrataError) return err.code.replace(/^STRATA_ERR_/, '').toLowerCase();
  const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return 'bad_request';
  return 'internal';
}
