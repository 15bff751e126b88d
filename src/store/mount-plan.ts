/**
 * Planning overlay mounts (pure): the option string for a layer, and the switch to relative
 * `l/<link>` paths with the home as working directory when absolute paths would not fit in
 * the single page that mount(2) accepts.
 */
import { StrataError } from '../errors';
import type { MountSpec } from '../sys/mounter';
import type { Layout } from './layout';

/** MAX_MOUNT_DATA is one page minus the terminating NUL. */
export const MAX_MOUNT_DATA = 4095;

export interface MountRequest {
  id: string;
  /** link ids of the lower layers, nearest first */
  lowers: readonly string[];
  /** a layer with children is mounted read-only, without upper and work dirs */
  readOnly: boolean;
  mountLabel?: string;
  /** kernel-feature options such as index=off, placed first */
  featureOptions: readonly string[];
}

function labelOption(label: string | undefined): string[] {
  return label ? [`context="${label}"`] : [];
}

function optionString(parts: string[]): string {
  return parts.join(',');
}

/**
 * planOverlayMount builds the mount for a layer that has lowers. It throws when even the
 * relative form would exceed a page (the label counts too).
 */
export function planOverlayMount(layout: Layout, req: MountRequest): MountSpec {
  const target = layout.mergedDir(req.id);
  const absoluteLowers = req.lowers.map((l) => layout.linkPath(l));
  const absolute = req.readOnly
    ? [`lowerdir=${[layout.diffDir(req.id), ...absoluteLowers].join(':')}`]
    : [`lowerdir=${absoluteLowers.join(':')}`, `upperdir=${layout.diffDir(req.id)}`, `workdir=${layout.workDir(req.id)}`];
  const absoluteOptions = optionString([...req.featureOptions, ...absolute, ...labelOption(req.mountLabel)]);
  // NOTE: ':' separates lowerdirs and ',' options, so a home containing either can only be
  // named relatively: a managed plugin's home is <PropagatedMount>/<name:tag> (protocol.md §1.6).
  const homeFitsOptions = !/[:,]/.test(layout.home);
  if (homeFitsOptions && absoluteOptions.length <= MAX_MOUNT_DATA) return { type: 'overlay', source: 'overlay', target, options: absoluteOptions };

  const relativeLowers = req.lowers.map((l) => layout.relativeLower(l));
  const relative = req.readOnly
    ? [`lowerdir=${[`${req.id}/diff`, ...relativeLowers].join(':')}`]
    : [`lowerdir=${relativeLowers.join(':')}`, `upperdir=${req.id}/diff`, `workdir=${req.id}/work`];
  const options = optionString([...req.featureOptions, ...relative, ...labelOption(req.mountLabel)]);
  if (options.length > MAX_MOUNT_DATA) {
    throw new StrataError('STRATA_ERR_ARG_INVALID', `cannot mount layer ${req.id}: its mount data needs ${options.length} bytes, more than one page (${MAX_MOUNT_DATA}); the mount label is ${req.mountLabel?.length ?? 0} bytes`);
  }
  return { type: 'overlay', source: 'overlay', target, options, cwd: layout.home };
}
