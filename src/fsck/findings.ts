/** What `strata fsck` can find in a home, and the repair each finding allows (pure types). */

/** Fix is a repair that `--repair` (or, for remove-layer of an unreferenced layer, `--remove-unreferenced`) may apply. */
export type Fix =
  | { action: 'create-link'; id: string; link: string }
  | { action: 'write-link-file'; id: string; link: string }
  | { action: 'remove-path'; path: string }
  | { action: 'make-work-dir'; id: string }
  | { action: 'unmount'; path: string }
  | { action: 'release-loop'; device: string }
  | { action: 'remove-layer'; id: string };

export type FindingKind =
  /** a layer dir without a readable, well-formed link file */
  | 'bad-link-file'
  /** l/<link> of a layer is missing or points elsewhere */
  | 'missing-link'
  /** an l/ entry whose layer does not exist, or that is not a link to a diff dir */
  | 'dangling-link'
  /** an l/ entry pointing at a layer whose link file names another link */
  | 'extra-link'
  /** a lower entry that no layer provides, or a malformed lower file */
  | 'broken-lower'
  /** more lowers than overlay2's limit of 128 */
  | 'too-deep'
  /** the parent file disagrees with the first lower entry */
  | 'parent-mismatch'
  | 'missing-diff'
  | 'missing-work'
  /** an unmounted merged dir with files in it: something wrote into the mount point */
  | 'merged-not-empty'
  /** a layer whose ApplyDiff was cut short (its incomplete marker is still there) */
  | 'interrupted'
  /** work of a crashed Strata in .strata/staging, or a crashed host check in .probe-* */
  | 'staging-leftover'
  /** a mount under the home that belongs to no layer Docker uses */
  | 'leaked-mount'
  /** a loop device on an image file under the home that no layer's mounted filesystem holds */
  | 'leaked-loop-device'
  /** an image file in a layer that records no size limit */
  | 'leaked-image'
  /** a layer that records a size limit but has lost its image file: its files are lost */
  | 'missing-image'
  /** a layer that Docker's layer database does not name */
  | 'unreferenced';

export interface Finding {
  kind: FindingKind;
  /** the layer concerned, when there is one */
  id?: string;
  path: string;
  detail: string;
  /** disk space held (unreferenced layers, staging leftovers) */
  bytes?: number;
  fix?: Fix;
  /** set after a repair was tried */
  repaired?: boolean;
  repairError?: string;
}

/** needsRemoveFlag tells whether a finding's fix is only applied with --remove-unreferenced. */
export function needsRemoveFlag(f: Finding): boolean {
  return f.kind === 'unreferenced';
}
