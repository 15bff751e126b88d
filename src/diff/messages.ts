/**
 * The diff service's messages: zod schemas for what arrives (as @grpc/proto-loader decodes it)
 * and the descriptor that goes back.
 */
import { z } from 'zod';
import type { Descriptor } from '../differ/descriptor';

const MAX_MOUNTS = 16;
const MAX_OPTIONS = 64;
const MAX_TEXT = 8192;

const Text = z.string().max(MAX_TEXT);
const Mount = z.object({ type: Text, source: Text, options: z.array(Text).max(MAX_OPTIONS).default([]) });
const Mounts = z.array(Mount).max(MAX_MOUNTS).default([]);
// OCI's digest grammar: algorithm, a colon, the encoded hash.
const Digest = z.string().max(256).regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, 'not a digest');
const Labels = z.record(z.string().max(4096), z.string().max(4096)).default({});

export const ApplyRequest = z.object({
  diff: z.object({ media_type: Text, digest: Digest, size: z.coerce.number().int().nonnegative() }, { error: 'apply needs the diff descriptor' }),
  mounts: Mounts,
  payloads: z.record(z.string(), z.unknown()).default({}),
  sync_fs: z.boolean().default(false),
});

export const DiffRequest = z.object({
  left: Mounts,
  right: Mounts,
  media_type: Text.default(''),
  ref: z.string().max(1024).regex(/^[^\x00-\x1f\x7f]*$/, 'control characters in ref').default(''),
  labels: Labels,
  source_date_epoch: z.object({ seconds: z.coerce.number().int(), nanos: z.number().int().min(0).max(999_999_999) }).nullish(),
});

/** descriptorMessage is a descriptor as the wire carries it. */
export function descriptorMessage(d: Descriptor) {
  return { media_type: d.mediaType, digest: d.digest, size: String(d.size), annotations: {} };
}
