/**
 * Running one gRPC call for a front end: time it, log one line with its id, operation, the
 * fields that identify it, duration and outcome, record it in the metrics, and turn an error
 * into its status once.
 */
import { randomUUID } from 'node:crypto';
import type { Metadata, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { NotImplementedError } from '../errors';
import type { Logger } from '../sys/log';
import type { Metrics, Service } from '../telemetry/metrics';
import { grpcFailure } from './errors';

export type Request = Record<string, unknown>;
export type Describe = (request: Request) => Record<string, unknown>;

/** CallSink is where a service's calls are logged and counted, under its service name. */
export interface CallSink {
  log: Logger;
  metrics: Metrics;
  service: Service;
}

/** finishCall logs and counts the call `op` and returns the status for a failure (null for success). */
export function finishCall(sink: CallSink, op: string, fields: Record<string, unknown>, started: bigint, err: unknown): { code: number; details: string } | null {
  const { log } = sink;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  sink.metrics.request({ service: sink.service, method: op, seconds, error: err, passedOn: err instanceof NotImplementedError });
  const ms = Math.round(seconds * 1e4) / 10;
  const line = { reqId: randomUUID().slice(0, 8), op, ...fields, ms };
  if (err === undefined) {
    log.info(line, 'request');
    return null;
  }
  const failure = grpcFailure(err);
  if (!failure.known) log.error({ ...line, err }, 'unexpected error');
  // A call left to another implementation (containerd's next differ) is routine, not a failure.
  else if (err instanceof NotImplementedError) log.info({ ...line, code: failure.code, passedOn: failure.details }, 'request passed on');
  else log.warn({ ...line, code: failure.code, err: failure.details }, 'request failed');
  return { code: failure.code, details: failure.details };
}

/** Note adds fields to the log line of the call being handled: what the handler found out on the way. */
export type Note = (fields: Record<string, unknown>) => void;

/** unaryCall makes a unary handler of `handle`, logged and counted under `op`, with what `describe` picks from the request. */
export function unaryCall(sink: CallSink, op: string, describe: Describe, handle: (request: Request, metadata: Metadata, note: Note) => Promise<unknown>) {
  return (call: ServerUnaryCall<Request, unknown>, callback: sendUnaryData<unknown>) => {
    const started = process.hrtime.bigint();
    const noted: Record<string, unknown> = {};
    const fields = () => ({ ...describe(call.request ?? {}), ...noted });
    handle(call.request ?? {}, call.metadata, (more) => Object.assign(noted, more)).then(
      (reply) => callback(finishCall(sink, op, fields(), started, undefined), reply),
      (err: unknown) => callback(finishCall(sink, op, fields(), started, err)),
    );
  };
}
