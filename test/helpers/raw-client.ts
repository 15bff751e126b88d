/**
 * A raw HTTP/1.1 client over a unix socket that sends exactly the bytes dockerd 20.10.24 sends
 * to a legacy plugin (protocol.md §1.2–1.3, captured from the real Go client): POST, an empty
 * `Host:`, `User-Agent: Go-http-client/1.1`, the v1.2 Accept header, no Content-Type, JSON
 * bodies with a trailing newline, a zero-length Activate, and a chunked raw tar for ApplyDiff.
 */
import net from 'node:net';

export const ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

export interface RawResponse {
  status: number;
  /** header names in lower case */
  headers: Record<string, string>;
  body: Buffer;
  /** the body parsed as JSON, when it is JSON */
  json?: unknown;
}

/** requestHead builds the request line and headers in the order Go 1.19 writes them. */
export function requestHead(path: string, framing: { contentLength: number } | 'chunked'): string {
  const length = framing === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${framing.contentLength}`;
  return `POST ${path} HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\n${length}\r\nAccept: ${ACCEPT}\r\n\r\n`;
}

/** jsonBody encodes a request body as Go's json.Encoder does: compact JSON plus a newline. */
export function jsonBody(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value)}\n`);
}

/**
 * parseResponse returns the response in `buf` once it is complete (Content-Length or chunked
 * framing), or undefined when more bytes are needed. `ended` means the server closed.
 */
export function parseResponse(buf: Buffer, ended: boolean): RawResponse | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) {
    if (ended) throw new Error(`connection closed before a complete response head: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`);
    return undefined;
  }
  const [statusLine, ...lines] = buf.toString('latin1', 0, headEnd).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = buf.subarray(headEnd + 4);
  let body: Buffer;
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      if (lineEnd < 0) return ended ? fail('chunked body ended early') : undefined;
      const size = parseInt(rest.toString('latin1', 0, lineEnd).split(';')[0]!, 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (size === 0) {
        // The last chunk: "0\r\n", optional trailers, then an empty line.
        if (rest.indexOf('\r\n\r\n', lineEnd) < 0) return ended ? fail('chunked trailer missing') : undefined;
        break;
      }
      if (rest.length < lineEnd + 2 + size + 2) return ended ? fail('chunk cut short') : undefined;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (rest.length < n) return ended ? fail('body shorter than Content-Length') : undefined;
    body = rest.subarray(0, n);
  } else {
    if (!ended) return undefined;
    body = rest;
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: Number(m[1]), headers, body: Buffer.from(body), json };
}

function fail(msg: string): never {
  throw new Error(msg);
}

/**
 * exchange connects to `socket`, writes `head` and then each body chunk (respecting
 * backpressure), and resolves with the first complete response. Like Go's transport it reads
 * while it writes, so an early error reply is seen even if the server stops reading.
 */
export function exchange(socket: string, head: Buffer, body: AsyncIterable<Buffer> | Buffer[] = []): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (err: Error | undefined, res?: RawResponse) => {
      if (settled) return;
      settled = true;
      conn.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const tryParse = (ended: boolean) => {
      try {
        const res = parseResponse(received, ended);
        if (res) finish(undefined, res);
      } catch (err) {
        finish(err as Error);
      }
    };
    conn.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      tryParse(false);
    });
    conn.on('end', () => tryParse(true));
    conn.on('close', () => {
      if (!settled) tryParse(true);
      if (!settled) finish(new Error('connection closed without a response'));
    });
    conn.on('error', (err) => {
      // A reset after the server answered and stopped reading the body is not a failure.
      if (received.length > 0) tryParse(true);
      if (!settled) finish(err);
    });
    conn.once('connect', async () => {
      try {
        const write = (b: Buffer) =>
          new Promise<void>((res) => {
            if (conn.write(b)) res();
            else conn.once('drain', () => res());
          });
        await write(head);
        for await (const chunk of body) {
          if (settled || conn.destroyed) return;
          await write(chunk);
        }
      } catch (err) {
        if (!settled && received.length === 0) finish(err as Error);
      }
    });
  });
}

/** dockerCall sends one JSON call as dockerd does; `body` undefined sends `{}`. */
export function dockerCall(socket: string, method: string, body: unknown = {}): Promise<RawResponse> {
  const payload = Buffer.isBuffer(body) ? body : jsonBody(body);
  return exchange(socket, Buffer.from(requestHead(`/${method}`, { contentLength: payload.length })), [payload]);
}

/** dockerActivate sends the legacy handshake: an empty POST with Content-Length: 0. */
export function dockerActivate(socket: string): Promise<RawResponse> {
  return exchange(socket, Buffer.from(requestHead('/Plugin.Activate', { contentLength: 0 })));
}

/** chunkedBody frames a tar as HTTP chunks of at most `size` bytes plus the last chunk. */
export async function* chunkedBody(tar: Buffer, size = 32 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < tar.length; i += size) {
    const part = tar.subarray(i, Math.min(i + size, tar.length));
    yield Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]);
  }
  yield Buffer.from('0\r\n\r\n');
}

/**
 * dockerApplyDiff sends ApplyDiff as dockerd does: ids only in the query string, built with
 * Sprintf and not URL-escaped, `parent=` present even when empty, a chunked raw tar body.
 */
export function dockerApplyDiff(socket: string, id: string, parent: string, tar: Buffer): Promise<RawResponse> {
  return exchange(socket, Buffer.from(requestHead(`/GraphDriver.ApplyDiff?id=${id}&parent=${parent}`, 'chunked'), 'latin1'), chunkedBody(tar));
}
