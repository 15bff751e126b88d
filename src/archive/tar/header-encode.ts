/**
 * USTAR header encoding (pure), byte for byte as Go's archive/tar writes a Docker header: the
 * main block, long names split into prefix and name, and the PAX header before the main block
 * when USTAR cannot hold a value.
 */
import path from 'node:path';
import { BLOCK, padding, TYPEFLAGS, type HeaderFields } from './entry';
import { fitsOctal, writeOctal } from './numbers';
import { encodePax, isAscii, paxRecordsFor } from './pax-encode';

// Header fields are short, so plain byte stores beat a round trip through Buffer.write.
function writeString(block: Buffer, value: string, off: number, len: number): void {
  const n = Math.min(value.length, len);
  for (let i = 0; i < n; i++) block[off + i] = value.charCodeAt(i) & 0xff; // latin1, as Buffer.write does
}

/** toAscii drops every byte Go's toASCII drops (non-ASCII and NUL) from a byte string. */
function toAscii(s: string): string {
  return s.replace(/[^\x01-\x7f]/g, '');
}

// USTAR splits long names at a '/' into a 155-byte prefix and a 100-byte name (Go's splitUSTARPath).
function splitUstarName(name: string): [string, string] | undefined {
  if (name.length <= 100) return ['', name];
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return [prefix, rest];
    if (rest.length > 100) break;
  }
  return undefined;
}

/**
 * writeName writes a name field as Go's formatString does: truncated to the field, and when
 * truncation leaves trailing slashes, the first of them becomes the terminating NUL.
 */
function writeName(block: Buffer, value: string, off: number, len: number): void {
  writeString(block, value, off, len);
  if (value.length > len && value[len - 1] === '/') block[off + value.slice(0, len - 1).replace(/\/+$/, '').length] = 0;
}

function checksummed(block: Buffer): Buffer {
  writeString(block, 'ustar\x0000', 257, 8);
  // The checksum field is still zero, so checksumOf's eight spaces are simply added (a tighter loop).
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  writeOctal(block, sum, 148, 7);
  block[155] = 0x20;
  return block;
}

/** mainBlock is Go's templateV7Plus: every numeric field written, 0 where the value does not fit. */
function mainBlock(f: HeaderFields, name: string, prefix: string, block: Buffer): Buffer {
  writeName(block, name, 0, 100);
  writeOctal(block, f.mode & 0o7777777, 100, 8);
  writeOctal(block, fitsOctal(f.uid, 8) ? f.uid : 0, 108, 8);
  writeOctal(block, fitsOctal(f.gid, 8) ? f.gid : 0, 116, 8);
  writeOctal(block, fitsOctal(f.size, 12) ? f.size : 0, 124, 12);
  writeOctal(block, fitsOctal(f.mtimeSec, 12) ? f.mtimeSec : 0, 136, 12);
  writeString(block, TYPEFLAGS[f.type], 156, 1);
  writeName(block, f.linkname ?? '', 157, 100);
  writeString(block, f.uname ?? '', 265, 32);
  writeString(block, f.gname ?? '', 297, 32);
  writeOctal(block, fitsOctal(f.devmajor ?? 0, 8) ? (f.devmajor ?? 0) : 0, 329, 8);
  writeOctal(block, fitsOctal(f.devminor ?? 0, 8) ? (f.devminor ?? 0) : 0, 337, 8);
  writeString(block, prefix, 345, 155);
  return checksummed(block);
}

/** paxHeaderBlock is Go's writeRawFile for a PAX header: name, zero ids and times, the size. */
function paxHeaderBlock(entryName: string, size: number): Buffer {
  const cut = entryName.lastIndexOf('/') + 1;
  const name = toAscii(path.posix.join(entryName.slice(0, cut), 'PaxHeaders.0', entryName.slice(cut))).slice(0, 100).replace(/\/+$/, '');
  const block = Buffer.alloc(BLOCK);
  writeString(block, name, 0, 100);
  for (const [off, len] of [[100, 8], [108, 8], [116, 8], [136, 12]] as const) writeOctal(block, 0, off, len);
  writeOctal(block, size, 124, 12);
  writeString(block, 'x', 156, 1);
  return checksummed(block);
}

/**
 * encodeHeader returns the header block(s) for an entry exactly as Go's archive/tar writes a
 * Docker header (Format PAX, whole-second mtime): a USTAR block, with a long ASCII name split
 * into prefix and name, when nothing else needs more; otherwise a PAX header holding every
 * record USTAR cannot (the path too, when it is long), then a main block with ASCII-only,
 * truncated fields.
 */
export function encodeHeader(f: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  if (writeUstarHeader(f, block)) return block;
  const body = encodePax(paxRecordsFor(f));
  const main = mainBlock({ ...f, linkname: toAscii(f.linkname ?? ''), uname: toAscii(f.uname ?? ''), gname: toAscii(f.gname ?? '') }, toAscii(f.name), '', block);
  return Buffer.concat([paxHeaderBlock(f.name, body.length), body, Buffer.alloc(padding(body.length)), main]);
}

/**
 * writeUstarHeader writes the header into `block` (BLOCK bytes, any content) when a lone USTAR
 * block holds it, and tells whether it did; encodeHeader covers every other entry.
 */
export function writeUstarHeader(f: HeaderFields, block: Buffer): boolean {
  const records = paxRecordsFor(f);
  const split = records.every(([key]) => key === 'path') ? splitUstarName(f.name) : undefined;
  if (!split || !isAscii(f.name)) return false;
  mainBlock(f, split[1], split[0], block.fill(0));
  return true;
}
