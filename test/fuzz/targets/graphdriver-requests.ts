/**
 * Fuzz target: request parsing of the GraphDriver front end, as its routes do it: the JSON body
 * parser, the method's zod schema through parseRequest, Init's driver options and Create's
 * storage options; for
 * ApplyDiff, the query string as fastify parses it. The first byte of an input picks the
 * method, the rest is the body (or query). Every input is taken or refused with one of
 * Strata's errors, and a taken id is one the store's own check takes.
 */
// The query string parser of fastify's router (find-my-way), so that ApplyDiff sees what it would.
import querystring from 'fast-querystring';
import type { z } from 'zod';
import { parseDriverOptions, requestedSizeLimit } from '../../../src/graphdriver/driver-options';
import { parseJsonBody } from '../../../src/graphdriver/json-body';
import * as schemas from '../../../src/graphdriver/schemas';
import { checkLayerId } from '../../../src/store/ids';
import { parseRequest } from '../../../src/validate';
import { BAD_IDS, BAD_INITS, BAD_LABELS, MALFORMED_JSON, WRONG_FIELDS, WRONG_TYPES } from '../../helpers/hostile-requests';
import type { FuzzTarget } from '../engine';
import { InvariantBroken, refusedByUs } from '../invariants';

const METHODS: Array<[string, z.ZodType]> = [
  ['Init', schemas.InitRequest],
  ['Create', schemas.CreateRequest],
  ['CreateReadWrite', schemas.CreateRequest],
  ['Remove', schemas.IdRequest],
  ['Get', schemas.GetRequest],
  ['Put', schemas.IdRequest],
  ['Exists', schemas.IdRequest],
  ['GetMetadata', schemas.IdRequest],
  ['Changes', schemas.DiffRequest],
  ['DiffSize', schemas.DiffRequest],
  ['Diff', schemas.DiffRequest],
  ['ApplyDiff', schemas.ApplyDiffQuery],
  ['Status', schemas.EmptyRequest],
  ['Cleanup', schemas.EmptyRequest],
];

const encode = (method: string, body: string) => Buffer.concat([Buffer.from([METHODS.findIndex(([m]) => m === method)]), Buffer.from(body)]);

function seeds(): Buffer[] {
  const out = [
    encode('Init', JSON.stringify({ Home: '/var/lib/docker/strata', Opts: ['strata.size=10G'], UIDMaps: [{ container_id: 0, host_id: 100000, size: 65536 }], GIDMaps: null })),
    encode('Create', JSON.stringify({ ID: 'abc', Parent: 'def', MountLabel: '', StorageOpt: null })),
    encode('CreateReadWrite', JSON.stringify({ ID: 'abc-init', Parent: 'abc', StorageOpt: { size: '1G' } })),
    encode('Get', JSON.stringify({ ID: 'abc', MountLabel: 'system_u:object_r:container_file_t:s0:c1,c2' })),
    encode('ApplyDiff', 'id=abc&parent=def'),
    encode('Status', ''),
  ];
  for (const [m] of METHODS) {
    for (const body of MALFORMED_JSON) out.push(encode(m, body));
    for (const body of WRONG_TYPES) out.push(encode(m, JSON.stringify(body)));
    for (const id of BAD_IDS.filter((id) => id.length < 200)) out.push(encode(m, m === 'ApplyDiff' ? `id=${encodeURIComponent(id)}` : JSON.stringify({ ID: id })));
  }
  for (const [methods, body] of WRONG_FIELDS) for (const m of methods) out.push(encode(m, JSON.stringify(body)));
  for (const body of BAD_INITS) out.push(encode('Init', JSON.stringify(body)));
  for (const label of BAD_LABELS) out.push(encode('Get', JSON.stringify({ ID: 'abc', MountLabel: label })));
  return out;
}

export const target: FuzzTarget = {
  name: 'graphdriver-requests',
  seeds: async () => seeds(),
  dictionary: ['{"ID":"', '"Parent":', '"MountLabel":', '"StorageOpt":{"size":"', '"Home":"/', '"UIDMaps":[{"container_id":0,"host_id":', '"size":', 'null', 'true', '[]', '{}', '\\u0000', '\\ud800', '../', ',', ':', '&parent=', 'id=', '%00', '%2F'].map((w) => Buffer.from(w)),
  maxLength: 4096,
  tar: false,
  async execute(input) {
    const [method, schema] = METHODS[(input[0] ?? 0) % METHODS.length]!;
    const body = input.subarray(1).toString('utf8');
    let parsed: Record<string, unknown>;
    try {
      parsed = parseRequest(schema, method === 'ApplyDiff' ? querystring.parse(body) : parseJsonBody(body)) as Record<string, unknown>;
      if (method === 'Init') parseDriverOptions(parsed.Opts as string[]);
      if (method === 'Create' || method === 'CreateReadWrite') requestedSizeLimit(parsed.StorageOpt as Record<string, string>, method === 'CreateReadWrite', {});
    } catch (err) {
      refusedByUs(err);
      return;
    }
    // Status and Cleanup take any object (Docker sends `{}` or nothing) and read no id.
    if (schema === schemas.EmptyRequest) return;
    for (const key of ['ID', 'id']) {
      const id = parsed[key];
      if (id === undefined) continue;
      if (typeof id !== 'string') throw new InvariantBroken(`${method} took a ${typeof id} as its id`);
      try {
        checkLayerId(id);
      } catch (err) {
        throw new InvariantBroken(`${method} took an id the store refuses: ${JSON.stringify(id)}`, { cause: err });
      }
    }
  },
};
