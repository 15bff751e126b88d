/** Strata's version, from its package.json (the compiled file sits two levels below it). */
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = (require(path.join(__dirname, '..', '..', 'package.json')) as { version: string }).version;
