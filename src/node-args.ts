/**
 * The V8 flags every `strata serve` process runs with. A small young generation lets the
 * buffers of a layer stream die in frequent, cheap scavenges instead of piling up until a
 * larger collection: peak RSS while applying a 500 MB layer from tmpfs fell from ~145 to
 * ~110 MiB with no measurable change in speed. They can only be given on node's command line,
 * so package.json, config.json, the systemd unit and the bin shebang repeat them;
 * test/unit/node-args.test.ts checks that they all agree with this list.
 */
export const SERVE_NODE_ARGS: readonly string[] = ['--max-semi-space-size=2'];
