/**
 * Scraping a Strata's Prometheus endpoint in tests: GET /metrics over TCP or a unix socket,
 * and reading one series' value from the exposition text.
 */
import http from 'node:http';

/** scrape fetches /metrics from `127.0.0.1:port` or a unix socket path. */
export function scrape(address: number | string, urlPath = '/metrics'): Promise<{ status: number; contentType: string; text: string }> {
  const target = typeof address === 'number' ? { host: '127.0.0.1', port: address } : { socketPath: address };
  return new Promise((resolve, reject) => {
    http
      .get({ ...target, path: urlPath }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** series reads the value of one series, e.g. `strata_layers` or `strata_mounts{state="idle"}`; 0 when absent (a counter not yet counted). */
export function series(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

/** sumOf adds every series of a metric whose labels include all of `labels` (e.g. every method's request count). */
export function sumOf(text: string, metric: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    const have = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) total += Number(m[3]);
  }
  return total;
}
