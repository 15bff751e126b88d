/**
 * The Prometheus endpoint, on the address the user opted into with --metrics-address: GET
 * /metrics in the text exposition format, nothing else. A unix socket is created 0600, as the
 * front ends' sockets are.
 */
import http from 'node:http';
import type { MetricsAddress } from '../config';
import { prepareSocketPath } from '../sys/socket';
import type { Logger } from '../sys/log';
import type { Metrics } from './metrics';

/** startMetricsServer listens on `address` until the returned server is closed. */
export async function startMetricsServer(metrics: Metrics, address: MetricsAddress, log: Logger): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('strata serves only GET /metrics here\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => {
        log.error({ err }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed (see the log)\n');
      },
    );
  });
  // A scraper's idle keep-alive connection must not hold up shutdown.
  server.keepAliveTimeout = 5_000;
  if ('path' in address) await prepareSocketPath(address.path);
  const previous = 'path' in address ? process.umask(0o177) : undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if ('path' in address) server.listen(address.path, resolve);
      else server.listen(address.port, address.host, resolve);
    });
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
  log.info({ metrics: 'path' in address ? address.path : `${address.host}:${address.port}` }, 'serving metrics');
  return server;
}

/** closeMetricsServer stops listening and drops idle scraper connections. */
export async function closeMetricsServer(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
}
