/** The logger: pino JSON lines, one destination, passed to everything that logs. */
import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  destination?: DestinationStream;
}

/** createLogger builds the process logger (stderr by default, so stdout stays free). */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    { level: options.level, base: { name: 'strata' }, timestamp: pino.stdTimeFunctions.isoTime },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
