/** Stopping a server process on SIGTERM/SIGINT: once, in the caller's order, with the log flushed before exit. */
import type { Logger } from './log';

/** exitOnSignals runs `stop` on the first SIGTERM or SIGINT, then exits 0 (1 when stop failed). */
export function exitOnSignals(log: Logger, stop: () => Promise<void>): void {
  let closing = false;
  const close = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    stop().then(
      () => log.flush(() => process.exit(0)),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        log.flush(() => process.exit(1));
      },
    );
  };
  process.on('SIGTERM', () => close('SIGTERM'));
  process.on('SIGINT', () => close('SIGINT'));
}
