/**
 * The gRPC server of `strata snapshotter` on a unix socket: the services given (containerd's
 * snapshot service, and its diff service when the differ is on), a socket created 0600 (only
 * root may use it), and the same refusal as the GraphDriver socket to start where another
 * process already answers.
 */
import { chmod } from 'node:fs/promises';
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { prepareSocketPath } from '../sys/socket';

export interface ServedService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/** startGrpcServer serves `services` on `socket` until the returned server is shut down. */
export async function startGrpcServer(services: readonly ServedService[], socket: string): Promise<Server> {
  await prepareSocketPath(socket);
  // Channelz keeps per-call statistics nobody reads here; off, a call costs about 10% less.
  const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.enable_channelz': 0 });
  for (const { definition, implementation } of services) server.addService(definition, implementation);
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
