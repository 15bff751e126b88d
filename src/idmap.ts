/**
 * User-namespace id mapping (userns-remap): container ids ↔ host ids, as given by Init's
 * UIDMaps/GIDMaps. Shared by the store (ownership of new directories) and the archive code.
 */
import { InvalidArgumentError } from './errors';

export interface IdRange {
  containerId: number;
  hostId: number;
  size: number;
}

/** IdMapping maps uids and gids; with no ranges it is the identity. */
export class IdMapping {
  constructor(
    readonly uids: readonly IdRange[] = [],
    readonly gids: readonly IdRange[] = [],
  ) {}

  get isIdentity(): boolean {
    return this.uids.length === 0 && this.gids.length === 0;
  }

  /** rootPair is the host uid/gid that container root maps to. */
  rootPair(): { uid: number; gid: number } {
    return { uid: this.toHostUid(0), gid: this.toHostGid(0) };
  }

  toHostUid(id: number): number {
    return mapId(this.uids, id, 'containerId', 'hostId', 'uid');
  }
  toHostGid(id: number): number {
    return mapId(this.gids, id, 'containerId', 'hostId', 'gid');
  }
  toContainerUid(id: number): number {
    return mapId(this.uids, id, 'hostId', 'containerId', 'uid');
  }
  toContainerGid(id: number): number {
    return mapId(this.gids, id, 'hostId', 'containerId', 'gid');
  }
}

function mapId(ranges: readonly IdRange[], id: number, from: 'containerId' | 'hostId', to: 'containerId' | 'hostId', what: string): number {
  if (ranges.length === 0) return id;
  for (const r of ranges) {
    if (id >= r[from] && id < r[from] + r.size) return r[to] + (id - r[from]);
  }
  const side = from === 'containerId' ? 'container' : 'host';
  throw new InvalidArgumentError(`${side} ${what} ${id} is outside the configured id mapping`);
}
