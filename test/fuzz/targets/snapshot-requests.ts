/**
 * Fuzz target: request parsing of the snapshotter front end, as its gRPC handlers do it: the
 * protobuf bytes decoded by @grpc/proto-loader's deserializer, the method's zod schema through
 * parseRequest, and List's filters through the filter parser. The first byte of an input picks
 * the method, the rest is the message. A message protobuf cannot decode is grpc-js's to refuse
 * (it answers INTERNAL before any handler runs); everything it decodes is taken or refused with
 * one of Strata's errors.
 */
import type { z } from 'zod';
import { parseFilters } from '../../../src/snapshots/filters';
import * as messages from '../../../src/snapshots/messages';
import { grpcService } from '../../../src/grpc/services';
import { parseRequest } from '../../../src/validate';
import type { FuzzTarget } from '../engine';
import { refusedByUs } from '../invariants';

const METHODS: Array<[string, z.ZodType]> = [
  ['Prepare', messages.CreateRequest],
  ['View', messages.CreateRequest],
  ['Mounts', messages.KeyRequest],
  ['Commit', messages.CommitRequest],
  ['Remove', messages.KeyRequest],
  ['Stat', messages.KeyRequest],
  ['Update', messages.UpdateRequest],
  ['Usage', messages.KeyRequest],
  ['List', messages.ListRequest],
  ['Cleanup', messages.EmptyRequest],
];

interface Codec {
  requestSerialize(value: object): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
}

let codecs: Codec[] | undefined;
function codec(i: number): Codec {
  const service = grpcService('snapshots').service as unknown as Record<string, Codec>;
  codecs ??= METHODS.map(([m]) => service[m]!);
  return codecs[i]!;
}

const FILTERS = ['kind==committed', 'labels."containerd.io/gc.root"', 'name~=/^sha256:/', 'parent!=""', 'labels.a==b,kind==active', 'name~=|a|b|', 'labels."x y"=="z"', ' kind==view', 'kind==', '"unterminated'];

function seeds(): Buffer[] {
  const labels = { 'containerd.io/snapshot.ref': 'sha256:abc', 'containerd.io/gc.root': '' };
  const requests: Array<[string, object]> = [
    ['Prepare', { key: 'k1', parent: 'p', labels }],
    ['View', { key: 'view-1', parent: '' }],
    ['Mounts', { key: 'k1' }],
    ['Commit', { name: 'sha256:def', key: 'k1', labels }],
    ['Remove', { key: 'k1' }],
    ['Stat', { key: '' }],
    ['Update', { info: { name: 'n', labels }, update_mask: { paths: ['labels.containerd.io/gc.root'] } }],
    ['Update', {}],
    ['Usage', { key: 'k1' }],
    ['List', { filters: FILTERS }],
    ...FILTERS.map((f): [string, object] => ['List', { filters: [f] }]),
    ['Cleanup', {}],
  ];
  return requests.map(([m, request]) => {
    const i = METHODS.findIndex(([name]) => name === m);
    return Buffer.concat([Buffer.from([i]), codec(i).requestSerialize(request)]);
  });
}

export const target: FuzzTarget = {
  name: 'snapshot-requests',
  seeds: async () => seeds(),
  dictionary: ['==', '!=', '~=', 'labels.', 'kind', 'name', 'parent', '"', '/', '|', ',', '\\x', '\\u00e9', '(?', '[', '*', '+'].map((w) => Buffer.from(w)),
  maxLength: 4096,
  tar: false,
  async execute(input) {
    const i = (input[0] ?? 0) % METHODS.length;
    let decoded: unknown;
    try {
      decoded = codec(i).requestDeserialize(input.subarray(1));
    } catch {
      return;
    }
    try {
      const request = parseRequest(METHODS[i]![1], decoded);
      if (METHODS[i]![0] === 'List') parseFilters((request as { filters: string[] }).filters);
    } catch (err) {
      refusedByUs(err);
    }
  },
};
