/**
 * The status call on the snapshotter's gRPC socket: `/strata.v1.Status/Get`, Strata's own
 * service beside containerd's, so `strata status` reaches a running snapshotter with no
 * opt-in and no second socket. Its messages are JSON (not protobuf): a request
 * `{"gc": bool}` and the StatusReport, so no .proto has to follow the report's shape.
 */
import { status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '../sys/log';
import { statusReport, type StatusSource } from './status-report';

export const STATUS_GET_PATH = '/strata.v1.Status/Get';

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString('utf8')) as unknown,
};

/** StatusServiceDefinition is the service as grpc-js servers and clients take it. */
export const StatusServiceDefinition: ServiceDefinition = {
  Get: {
    path: STATUS_GET_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

export const jsonCodec = json;

/** statusService answers the status call with the report of `source`. */
export function statusService(source: StatusSource, log: Logger): UntypedServiceImplementation {
  return {
    Get: (call: ServerUnaryCall<{ gc?: unknown }, unknown>, callback: sendUnaryData<unknown>) => {
      statusReport(source, { gc: call.request?.gc === true }).then(
        (report) => callback(null, report),
        (err: unknown) => {
          log.error({ err }, 'status failed');
          callback({ code: status.INTERNAL, details: 'status failed (see the log)' });
        },
      );
    },
  };
}
