/** The only place where errors become wire replies: a non-200 status with {"Err": "…"}. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { StrataError } from '../errors';

/** errorReply maps any error to an HTTP status and the text of the Err field. */
export function errorReply(err: unknown): { status: number; message: string; known: boolean } {
  if (err instanceof StrataError) return { status: err.status >= 400 ? err.status : 500, message: err.message, known: true };
  const fe = err as Partial<FastifyError>;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, message: fe.message ?? 'bad request', known: true };
  }
  return { status: 500, message: `internal error: ${(err as Error)?.message ?? String(err)}`, known: false };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, message, known } = errorReply(err);
  request.failure = { message, error: err };
  if (!known) request.log.error({ err }, 'unexpected error');
  // A Diff whose tar already started cannot turn into an error reply: cut the connection.
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy();
    return;
  }
  void reply.code(status).type('application/vnd.docker.plugins.v1+json').send({ Err: message });
}
