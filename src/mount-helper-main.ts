/**
 * The mount helper's entry (sys/mount-helper.ts). Not a command of cli.ts: this file loads only
 * what the helper needs, so starting or restarting it costs a bare node start, not the server's
 * modules.
 */
import { mountHelperMain } from './sys/mount-helper';

mountHelperMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`strata mount-helper: ${(err as Error).message ?? String(err)}`);
    process.exitCode = 1;
  },
);
