/**
 * Where things live under a home (pure). The layout is overlay2's, so users' knowledge and
 * tools carry over; Strata's own bookkeeping lives in `.strata/`, out of the way of ids.
 */
import path from 'node:path';

export class Layout {
  constructor(readonly home: string) {}

  layerDir(id: string): string {
    return path.join(this.home, id);
  }
  diffDir(id: string): string {
    return path.join(this.home, id, 'diff');
  }
  workDir(id: string): string {
    return path.join(this.home, id, 'work');
  }
  mergedDir(id: string): string {
    return path.join(this.home, id, 'merged');
  }
  linkFile(id: string): string {
    return path.join(this.home, id, 'link');
  }
  lowerFile(id: string): string {
    return path.join(this.home, id, 'lower');
  }
  /** parentFile records the parent id (overlay2 has only the link chain; Strata keeps both). */
  parentFile(id: string): string {
    return path.join(this.home, id, 'parent');
  }
  /** committedFile marks a layer that has children: it is then mounted read-only. */
  committedFile(id: string): string {
    return path.join(this.home, id, 'committed');
  }
  /**
   * incompleteFile marks a layer whose ApplyDiff has started but not finished. A layer that
   * still carries it when the store opens was interrupted by a crash and is removed: Docker
   * never registered it, and a retried ApplyDiff could only carry the rest of the stream.
   */
  incompleteFile(id: string): string {
    return path.join(this.home, id, 'incomplete');
  }
  /**
   * sizeLimitFile records a layer's size limit in bytes. A limited layer's diff and work are
   * symlinks into limitDir, where the filesystem of limitImage is mounted: overlay wants its
   * upper and work dirs on one mount, and the links keep every path of the layout as it is.
   */
  sizeLimitFile(id: string): string {
    return path.join(this.home, id, 'size-limit');
  }
  limitDir(id: string): string {
    return path.join(this.home, id, 'limit');
  }
  limitImage(id: string): string {
    return path.join(this.home, id, 'limit.img');
  }
  /** limitDiffDir is where a limited layer's diff dir really is; readers that refuse to follow a symlink at their root start there. */
  limitDiffDir(id: string): string {
    return path.join(this.home, id, 'limit', 'diff');
  }
  /** limitDiffTarget and limitWorkTarget are what a limited layer's diff and work links point at. */
  limitDiffTarget(): string {
    return 'limit/diff';
  }
  limitWorkTarget(): string {
    return 'limit/work';
  }
  /** layerOfLimitMount is the layer whose limit dir `mountPoint` is, if it is one. */
  layerOfLimitMount(mountPoint: string): string | undefined {
    const rel = path.relative(this.home, mountPoint).split(path.sep);
    return rel.length === 2 && rel[1] === 'limit' ? rel[0] : undefined;
  }
  linksDir(): string {
    return path.join(this.home, 'l');
  }
  linkPath(link: string): string {
    return path.join(this.home, 'l', link);
  }
  /** linkTarget is what `l/<link>` of layer `id` points at, relative to l/. */
  linkTarget(id: string): string {
    return `../${id}/diff`;
  }
  /** layerOfMountPoint is the layer whose merged dir `mountPoint` is, if it is one. */
  layerOfMountPoint(mountPoint: string): string | undefined {
    const rel = path.relative(this.home, mountPoint).split(path.sep);
    return rel.length === 2 && rel[1] === 'merged' ? rel[0] : undefined;
  }
  /** relativeLower is how a lower entry is written in `lower` files and relative mount data. */
  relativeLower(link: string): string {
    return `l/${link}`;
  }
  stateDir(): string {
    return path.join(this.home, '.strata');
  }
  /** ownerFile names the process serving this home, so that `strata fsck` does not repair under it. */
  ownerFile(): string {
    return path.join(this.home, '.strata', 'owner.json');
  }
  /** stagingDir holds layers and diffs being written; leftovers are removed at start. */
  stagingDir(): string {
    return path.join(this.home, '.strata', 'staging');
  }
}

/** layerOfLinkTarget is the layer id an `l/` symlink target names (see Layout.linkTarget), or undefined. */
export function layerOfLinkTarget(target: string): string | undefined {
  const id = target.split('/')[1];
  return id && target === `../${id}/diff` ? id : undefined;
}

/** isLayerName tells whether an entry of the home may be a layer dir: not l/, not hidden like .strata. */
export function isLayerName(name: string): boolean {
  return name !== 'l' && !name.startsWith('.');
}

/** mountPointsBelow picks the mount points strictly below `dir`, deepest first: the order to unmount them in. */
export function mountPointsBelow(dir: string, mountPoints: Iterable<string>): string[] {
  const prefix = dir + path.sep;
  return [...mountPoints].filter((m) => m.startsWith(prefix)).sort((a, b) => b.length - a.length);
}
