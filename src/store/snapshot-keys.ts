/**
 * What a snapshot key and its labels may hold (pure). Keys and labels are only ever stored in
 * the catalog and never become paths, so the rules are about sanity, not safety: no control
 * characters, and sizes that keep a request, a catalog row and a List reply bounded.
 */
import { InvalidArgumentError } from '../errors';
import type { Labels } from '../core/snapshots';
import { parseSizeLimit } from './size-limit';

/**
 * MAX_SIZE_LABEL is containerd's own label for limiting an active snapshot
 * (`snapshots.LabelSnapshotMaxSize`, bytes as a decimal number; its EROFS snapshotter honours it).
 */
export const MAX_SIZE_LABEL = 'containerd.io/snapshot/max-size';

/**
 * sizeLimitLabel reads MAX_SIZE_LABEL, in bytes or with a unit as `--storage-opt size` takes it;
 * undefined without it. A value that is not a size, or is too small, is an InvalidArgumentError
 * (containerd's EROFS snapshotter falls back to its default instead; a limit asked for and
 * silently not applied is what this label exists to prevent).
 */
export function sizeLimitLabel(labels: Labels): number | undefined {
  const value = labels[MAX_SIZE_LABEL];
  return value === undefined ? undefined : parseSizeLimit(`label ${MAX_SIZE_LABEL}`, value);
}

/** MAX_KEY_BYTES bounds a key: containerd's are `<namespace>/<n>/<client key>`, well below this. */
export const MAX_KEY_BYTES = 4096;
/** MAX_LABEL_BYTES is containerd's limit on one label's key plus value (labels.Validate). */
export const MAX_LABEL_BYTES = 4096;
/** MAX_LABELS_BYTES bounds all labels of one snapshot together. */
export const MAX_LABELS_BYTES = 64 * 1024;

// C0 controls and DEL: a NUL would cut the string in Go's C interfaces, the rest garble logs.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** checkKey throws InvalidArgumentError unless `key` is a usable snapshot key or name. */
export function checkKey(key: string, what = 'key'): string {
  if (key.length === 0) throw new InvalidArgumentError(`snapshot ${what} is empty`);
  const bytes = Buffer.byteLength(key);
  if (bytes > MAX_KEY_BYTES) throw new InvalidArgumentError(`snapshot ${what} is ${bytes} bytes long (at most ${MAX_KEY_BYTES})`);
  if (CONTROL.test(key)) throw new InvalidArgumentError(`snapshot ${what} ${JSON.stringify(key.slice(0, 80))} contains a control character`);
  return key;
}

/**
 * checkLabels validates labels and returns them without empty values: containerd stores no
 * label with an empty value, so an empty value means "no such label".
 */
export function checkLabels(labels: Labels): Labels {
  const kept: Labels = {};
  let total = 0;
  for (const [name, value] of Object.entries(labels)) {
    if (name.length === 0) throw new InvalidArgumentError('a label has an empty name');
    if (CONTROL.test(name)) throw new InvalidArgumentError(`label ${JSON.stringify(name.slice(0, 80))} has a control character in its name`);
    const size = Buffer.byteLength(name) + Buffer.byteLength(value);
    if (size > MAX_LABEL_BYTES) {
      throw new InvalidArgumentError(`label ${JSON.stringify(name.slice(0, 80))} is ${size} bytes with its value, more than the ${MAX_LABEL_BYTES} containerd allows`);
    }
    total += size;
    if (total > MAX_LABELS_BYTES) throw new InvalidArgumentError(`the labels add up to more than ${MAX_LABELS_BYTES} bytes`);
    if (value !== '') kept[name] = value;
  }
  return kept;
}

/**
 * takesDefaultSizeLimit tells whether a new active snapshot gets the configured default limit.
 * Not the ones containerd unpacks an image layer into (`<namespace>/<n>/extract-<time> <chain
 * id>`), nor Docker's `<id>-init-key` (Docker 26 on the containerd store writes a few mount points
 * there and commits it as `<id>-init`): a default is for containers, and a snapshot committed from a limited one
 * keeps its filesystem, and a loop device, for as long as it lives.
 */
export function takesDefaultSizeLimit(key: string): boolean {
  return !/^[^/]+\/[0-9]+\/extract-/.test(key) && !key.endsWith('-init-key');
}
