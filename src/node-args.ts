/**
 * The V8 flags every `strata serve` and `strata snapshotter` process runs with.
 *
 * - `--max-semi-space-size=2`: a small young generation lets the buffers of a layer stream die
 *   in frequent, cheap scavenges instead of piling up until a larger collection: peak RSS while
 *   applying a 500 MB layer from tmpfs fell from ~145 to ~110 MiB with no change in speed.
 * - `--heap-growing-percent=100`: after each full collection the old generation may grow to
 *   twice what survived. Left to itself V8 picks the factor from how fast its collections are;
 *   for Strata's small heap (~20 MB live) they are fast, so it picks as little as 1.1, and
 *   during a long ApplyDiff it then marked the heap again every ~50 ms: 45 full collections in
 *   one 500 MB `docker load`, whose marking and sweeping threads took more CPU than the load
 *   itself. At other times it let the heap grow far past what was live, and garbage piled up
 *   across loads. With the factor fixed at 2, that load has one full collection (CPU 1.7 s →
 *   0.7 s), and peak RSS over two rounds of the bench's five load images fell from 150–168 to
 *   126–130 MiB, at the same speed.
 *
 * They can only be given on node's command line, so package.json, config.json, the systemd
 * units and the bin shebang repeat them; test/unit/node-args.test.ts checks that they all agree
 * with this list.
 */
export const SERVE_NODE_ARGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=100'];
