#!/usr/bin/env node
/** The command line: `strata serve` (default) and `strata version`. */
import { parseConfig } from './config';
import { VERSION, serve } from './main';

const USAGE = `usage: strata [serve] [--socket PATH] [--state-dir DIR] [--log-level LEVEL]
       strata version

  serve        run the GraphDriver plugin server (default)
  --socket     unix socket to listen on (env STRATA_SOCKET, default /run/docker/plugins/strata.sock)
  --state-dir  where Strata remembers dockerd's Init (env STRATA_STATE_DIR, default /var/lib/strata)
  --log-level  fatal|error|warn|info|debug|trace|silent (env STRATA_LOG_LEVEL, default info)`;

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  const command = first && !first.startsWith('-') ? first : 'serve';
  const args = command === first ? rest : argv;
  switch (command) {
    case 'serve':
      await serve(parseConfig(args, process.env));
      return -1;
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
