/**
 * PAX extended headers, written as Go's archive/tar writes them for Docker: which values a
 * USTAR header cannot hold, their records sorted by key, and PAX times.
 */
import type { HeaderFields, PaxTime } from './entry';
import { fitsOctal } from './numbers';

/**
 * formatPaxTime writes a time as Go's formatPAXTime does: seconds, and the fraction without
 * trailing zeros; a time before 1970 is one negative decimal (-1 s + 1 ns is "-0.999999999").
 */
export function formatPaxTime(t: PaxTime): string {
  if (t.nsec === 0) return String(t.sec);
  const [sign, sec, nsec] = t.sec < 0 ? ['-', -(t.sec + 1), 1_000_000_000 - t.nsec] : ['', t.sec, t.nsec];
  return `${sign}${sec}.${String(nsec).padStart(9, '0')}`.replace(/0+$/, '');
}

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
  if (f.mtimeNsec) records.push(['mtime', raw(formatPaxTime({ sec: f.mtimeSec, nsec: f.mtimeNsec }))]);
  else number('mtime', f.mtimeSec, 12);
  if (f.atime) records.push(['atime', raw(formatPaxTime(f.atime))]);
  if (f.ctime) records.push(['ctime', raw(formatPaxTime(f.ctime))]);
  for (const [key, value] of f.xattrs ?? []) records.push([`SCHILY.xattr.${key}`, value]);
  return records.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
