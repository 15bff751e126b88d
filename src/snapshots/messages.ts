/**
 * The snapshot service's messages: zod schemas for what arrives (as @grpc/proto-loader decodes
 * it: snake_case fields, maps as objects, defaults filled in) and the shapes that go back.
 */
import { z } from 'zod';
import type { Kind, Mount, SnapshotInfo } from '../core/snapshots';

const Labels = z.record(z.string(), z.string()).default({});

export const KeyRequest = z.object({ key: z.string() });
export const CreateRequest = z.object({ key: z.string(), parent: z.string().default(''), labels: Labels });
export const CommitRequest = z.object({ name: z.string(), key: z.string(), labels: Labels });
export const UpdateRequest = z.object({
  info: z.object({ name: z.string(), labels: Labels }, { error: 'update needs info' }),
  update_mask: z.object({ paths: z.array(z.string()).default([]) }).nullish(),
});
export const ListRequest = z.object({ filters: z.array(z.string()).max(64).default([]) });
export const EmptyRequest = z.object({});

const KIND_NAMES: Record<Kind, string> = { view: 'VIEW', active: 'ACTIVE', committed: 'COMMITTED' };

function timestamp(us: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(us / 1e6)), nanos: (us % 1e6) * 1000 };
}

/** infoMessage is a snapshot's Info as the wire carries it. */
export function infoMessage(info: SnapshotInfo) {
  return {
    name: info.name,
    parent: info.parent,
    kind: KIND_NAMES[info.kind],
    created_at: timestamp(info.createdUs),
    updated_at: timestamp(info.updatedUs),
    labels: info.labels,
  };
}

export function mountMessages(mounts: readonly Mount[]) {
  return mounts.map((m) => ({ type: m.type, source: m.source, options: m.options }));
}
