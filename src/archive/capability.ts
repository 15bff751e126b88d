/**
 * The one extended attribute a diff carries and compares: file capabilities. Both reference
 * differs (moby's archive.ChangesDirs and containerd's continuity) treat a changed
 * security.capability as a changed file and write it into the layer, and no other xattr.
 */
export const CAPABILITY_XATTR = 'security.capability';
