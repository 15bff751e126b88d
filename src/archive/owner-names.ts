/**
 * User and group names for the uname/gname fields of exported tars. Docker 20.10 fills them
 * with Go's tar.FileInfoHeader, which looks the file's (host) uid and gid up in the host's
 * user database; an id without an entry gets an empty name. Reading /etc/passwd and
 * /etc/group gives the same answers for local accounts, which is what Docker hosts have.
 */
import fs from 'node:fs';
import { errnoOf } from '../errors';

/** OwnerNames answers name lookups; '' means "no such id", as in Docker's headers. */
export interface OwnerNames {
  user(uid: number): string;
  group(gid: number): string;
}

/** parseIdDatabase reads passwd- or group-format text into id → name (the first entry of an id wins). */
export function parseIdDatabase(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (!name || name.startsWith('#') || id === undefined || !/^\d+$/.test(id)) continue;
    if (!names.has(Number(id))) names.set(Number(id), name);
  }
  return names;
}

function readOptional(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return '';
    throw err;
  }
}

/** readHostOwnerNames reads the host's /etc/passwd and /etc/group once, for one export. */
export function readHostOwnerNames(etc = '/etc'): OwnerNames {
  const users = parseIdDatabase(readOptional(`${etc}/passwd`));
  const groups = parseIdDatabase(readOptional(`${etc}/group`));
  return { user: (uid) => users.get(uid) ?? '', group: (gid) => groups.get(gid) ?? '' };
}
