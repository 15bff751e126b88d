/** The tar entry type of a file on disk, from its st_mode (pure). */
import type { EntryType } from './tar/entry';

const TYPE_BITS: ReadonlyMap<number, EntryType> = new Map([
  [0o100000, 'file'],
  [0o040000, 'dir'],
  [0o120000, 'symlink'],
  [0o020000, 'char'],
  [0o060000, 'block'],
  [0o010000, 'fifo'],
]);

/** entryTypeOf maps st_mode to a tar entry type; undefined for a socket, which no tar holds. */
export function entryTypeOf(mode: number): EntryType | undefined {
  return TYPE_BITS.get(mode & 0o170000);
}
