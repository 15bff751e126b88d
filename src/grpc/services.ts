/**
 * containerd's gRPC services from our own .proto files (loaded at run time): the ones Strata
 * serves (snapshots, diff) and the ones it calls on containerd (content, leases, introspection).
 */
import path from 'node:path';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** PROTO_DIR holds the .proto files; they stay in the source tree, beside the compiled output's package.json. */
export const PROTO_DIR = path.join(__dirname, '..', '..', '..', 'src', 'grpc', 'proto');

const SERVICES = {
  snapshots: ['snapshots.proto', 'containerd.services.snapshots.v1.Snapshots'],
  diff: ['diff.proto', 'containerd.services.diff.v1.Diff'],
  content: ['content.proto', 'containerd.services.content.v1.Content'],
  leases: ['leases.proto', 'containerd.services.leases.v1.Leases'],
  introspection: ['introspection.proto', 'containerd.services.introspection.v1.Introspection'],
} as const;

const loaded = new Map<string, ServiceClientConstructor>();

/**
 * grpcService returns a service's client class (its `.service` is what a server adds). Messages
 * keep containerd's field names, 64-bit numbers come as strings and enums as their names.
 */
export function grpcService(name: keyof typeof SERVICES): ServiceClientConstructor {
  const known = loaded.get(name);
  if (known) return known;
  const [file, qualified] = SERVICES[name];
  const definition = loadSync(file, { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, arrays: true, objects: true });
  let node: unknown = loadPackageDefinition(definition);
  for (const part of qualified.split('.')) node = (node as GrpcObject)[part];
  loaded.set(name, node as ServiceClientConstructor);
  return node as ServiceClientConstructor;
}
