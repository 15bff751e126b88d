/**
 * The snapshotter's gRPC server on a unix socket: containerd's snapshot service from our own
 * .proto files, a socket created 0600 (only root may use it), and the same refusal as the
 * GraphDriver socket to start where another process already answers.
 */
import path from 'node:path';
import { chmod } from 'node:fs/promises';
import { Server, ServerCredentials, loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { prepareSocketPath } from '../sys/socket';
import { snapshotService, type SnapshotServiceDeps } from './service';

/** PROTO_DIR holds the .proto files; they stay in the source tree, beside the compiled output's package.json. */
export const PROTO_DIR = path.join(__dirname, '..', '..', '..', 'src', 'snapshots', 'proto');

/** snapshotsServiceDefinition loads containerd.services.snapshots.v1.Snapshots (clients in tests use it too). */
export function snapshotsServiceClass(): ServiceClientConstructor {
  const definition = loadSync('snapshots.proto', {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    arrays: true,
    objects: true,
  });
  const root = loadPackageDefinition(definition) as GrpcObject;
  const v1 = ((root.containerd as GrpcObject).services as GrpcObject).snapshots as GrpcObject;
  return (v1.v1 as GrpcObject).Snapshots as ServiceClientConstructor;
}

/** startSnapshotServer serves the snapshot service on `socket` until the returned server is shut down. */
export async function startSnapshotServer(deps: SnapshotServiceDeps, socket: string): Promise<Server> {
  await prepareSocketPath(socket);
  // Channelz keeps per-call statistics nobody reads here; off, a call costs about 10% less.
  const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.enable_channelz': 0 });
  server.addService(snapshotsServiceClass().service, snapshotService(deps));
  // The umask makes the socket 0600 from its creation on: no window where others may connect.
  const previous = process.umask(0o177);
  try {
    await new Promise<number>((resolve, reject) => server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
  } finally {
    process.umask(previous);
  }
  await chmod(socket, 0o600);
  return server;
}
