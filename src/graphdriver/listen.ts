/**
 * Listening on the unix socket: the socket path is prepared as for every front end (see
 * sys/socket), and the socket is created with mode 0600 (only root may talk to the driver).
 */
import type { FastifyInstance } from 'fastify';
import { prepareSocketPath } from '../sys/socket';

/** listenOnSocket starts serving on `socket` with mode 0600. */
export async function listenOnSocket(app: FastifyInstance, socket: string): Promise<void> {
  await prepareSocketPath(socket);
  // The umask makes the socket 0600 from its creation on: no window where others may connect.
  const previous = process.umask(0o177);
  try {
    await app.listen({ path: socket });
  } finally {
    process.umask(previous);
  }
}
