/**
 * Hostile GraphDriver requests: malformed JSON, wrong types and ids, labels and Init homes that
 * Strata must refuse. The wire tests send them to a real server; the fuzzer starts from them.
 */

export const ID_METHODS = ['Create', 'CreateReadWrite', 'Remove', 'Get', 'Put', 'Exists', 'GetMetadata', 'Changes', 'DiffSize', 'Diff'];
export const BAD_IDS = ['', '/', '..', '.', '../keep1', 'keep1/../keep2', 'a/b', '/etc', 'a,b', 'a:b', 'a\0b', 'a\nb', 'a\rb', ' keep1', 'keep1 ', '.strata', 'l', '-rf', 'k\u00e9ep', 'x'.repeat(129), 'y'.repeat(10 * 1024), 'keep1,upperdir=/etc', 'keep1:l/AAAA'];
export const BAD_LABELS = ['a,b', 'system_u:object_r:t:s0,upperdir=/etc', 'system_u:object_r:t"', "system_u:object_r:t'", 'a"b', 'context="x"', 'z'.repeat(1000), 'system_u:object_r:t:s0\n'];
export const MALFORMED_JSON = ['{', '[1,2', '{"ID":}', '{"ID":"keep1"', 'nul', '"ID"', '{"ID":"keep1"}}', '\u0000', '{"ID":"ke\\ud800"}x', '42'];
export const WRONG_TYPES: unknown[] = [{ ID: 5 }, { ID: null }, { ID: ['keep1'] }, { ID: { x: 1 } }, { ID: true }, [], {}];
/** wrong types in the other fields, for the methods that read them (unknown fields are ignored, as Go does) */
export const WRONG_FIELDS: Array<[string[], unknown]> = [
  [['Create', 'CreateReadWrite', 'Changes', 'DiffSize', 'Diff'], { ID: 'fresh', Parent: 7 }],
  [['Create', 'CreateReadWrite', 'Changes', 'DiffSize', 'Diff'], { ID: 'fresh', Parent: ['keep1'] }],
  [['Create', 'CreateReadWrite'], { ID: 'fresh', StorageOpt: 'size=1' }],
  [['Create', 'CreateReadWrite'], { ID: 'fresh', StorageOpt: { size: 5 } }],
  [['Create', 'CreateReadWrite'], { ID: 'fresh', StorageOpt: { size: '1Q' } }],
  [['Create'], { ID: 'fresh', StorageOpt: { size: '1G' } }],
  [['Create', 'CreateReadWrite', 'Get'], { ID: 'fresh', MountLabel: 3 }],
];
export const BAD_INITS: unknown[] = [{ Home: 5 }, { Home: '' }, { Home: 'relative/home' }, { Home: '/' }, { Home: '/tmp/../etc' }, { Home: '/tmp/x', UIDMaps: 'x' }, { Home: '/tmp/x', UIDMaps: [{ container_id: -1, host_id: 0, size: 1 }] }, { Home: '/tmp/x', Opts: ['size=1G'] }, {}, { Home: null }];
