/**
 * PAX extended headers, written as Go's archive/tar writes them for Docker: which values a
 * USTAR header cannot hold, their records sorted by key.
 */
import type { HeaderFields } from './entry';
import { fitsOctal } from './numbers';

/** isAscii tells whether a byte string is all ASCII, which a USTAR text field must be (else Go writes a PAX record). */
export function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length > len) len++;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

/** encodePax returns the data of a PAX extended header holding `records` in the order given. */
export function encodePax(records: Array<[string, Buffer]>): Buffer {
  return Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
}

/** paxRecordsFor lists, sorted by key as Go writes them, what a USTAR header cannot hold. */
export function paxRecordsFor(f: HeaderFields): Array<[string, Buffer]> {
  const raw = (s: string) => Buffer.from(s, 'latin1');
  const records: Array<[string, Buffer]> = [];
  const text = (key: string, value: string, max: number) => {
    if (value.length > max || !isAscii(value)) records.push([key, raw(value)]);
  };
  const number = (key: string, value: number, len: number) => {
    if (!fitsOctal(value, len)) records.push([key, raw(String(value))]);
  };
  text('path', f.name, 100);
  text('linkpath', f.linkname ?? '', 100);
  text('uname', f.uname ?? '', 32);
  text('gname', f.gname ?? '', 32);
  number('uid', f.uid, 8);
  number('gid', f.gid, 8);
  number('size', f.size, 12);
  number('mtime', f.mtimeSec, 12);
  for (const [key, value] of f.xattrs ?? []) records.push([`SCHILY.xattr.${key}`, value]);
  return records.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
