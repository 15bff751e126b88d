/**
 * The fastify app speaking Docker's GraphDriver plugin protocol. Routes validate with zod and
 * call one store method each; no filesystem work happens here. buildApp never listens.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { InvalidArgumentError } from '../errors';
import type { DriverSession } from './session';
import type { Logger } from '../sys/log';
import { toUtf8 } from '../archive/entry-path';
import { StreamChunks } from '../archive/tar/stream-chunks';
import { requestedSizeLimit, takesSizeLimit } from './driver-options';
import { parseRequest } from '../validate';
import { errorHandler } from './error-handler';
import { parseJsonBody } from './json-body';
import * as naive from './naive-diff';
import {
  ApplyDiffQuery,
  CreateRequest,
  DiffRequest,
  EmptyRequest,
  GetRequest,
  IdRequest,
  InitRequest,
  StatusRequest,
} from './schemas';
import { statusLines } from './status';
import { Metrics, countBytes } from '../telemetry/metrics';
import { statusReport } from '../telemetry/status-report';
import { VERSION } from '../version';

declare module 'fastify' {
  interface FastifyRequest {
    /** what the request failed with, and the text its reply carried */
    failure?: { message: string; error: unknown };
    /** bytes of layer archive this request applied (ApplyDiff) or produced (Diff), for metrics */
    appliedBytes?: number;
    diffedBytes?: number;
  }
}

export interface AppDeps {
  session: DriverSession;
  log: Logger;
  /** where requests are counted; a registry of its own when not given (nothing serves it then) */
  metrics?: Metrics;
  /** largest JSON body accepted (ApplyDiff's tar stream is not limited) */
  bodyLimit?: number;
}

const MIME = 'application/vnd.docker.plugins.v1+json';

function idsOf(request: FastifyRequest): { id?: string; parent?: string } {
  const source = (request.url.startsWith('/GraphDriver.ApplyDiff') ? request.query : request.body) as Record<string, unknown> | undefined;
  const pick = (k: string) => (typeof source?.[k] === 'string' ? (source[k] as string).slice(0, 128) : undefined);
  return { id: pick('ID') ?? pick('id'), parent: pick('Parent') || pick('parent') || undefined };
}

/** buildApp assembles the protocol server around a driver session. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Fastify's own request lines are off: the onResponse hook below writes one line per request.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID().slice(0, 8),
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    return503OnClosing: false,
  });
  const { session } = deps;
  const metrics = deps.metrics ?? new Metrics({ store: 'layers', sample: () => session.sample() });
  const store = () => session.store();
  const create = async (r: z.output<typeof CreateRequest>, readWrite: boolean) => {
    const s = store();
    const limit = requestedSizeLimit(r.StorageOpt, readWrite, session.options);
    // Checked on the -init layer too: Docker leaves it behind when its container layer fails.
    if (limit) s.checkSizeLimit(limit);
    await s.create(r.ID, r.Parent, { readWrite, mountLabel: r.MountLabel, sizeLimit: limit && takesSizeLimit(r.ID) ? limit : undefined });
  };

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    request.failure = { message: 'unknown method', error: { statusCode: 404 } };
    void reply.code(404).type(MIME).send({ Err: `unknown method ${request.method} ${request.url.split('?')[0]}` });
  });
  // One log line and one metrics record per request: id, op, layer, duration, outcome.
  app.addHook('onResponse', async (request, reply) => {
    const op = request.url.split('?')[0]!.replace(/^\/(GraphDriver\.)?/, '');
    metrics.request({ service: 'graphdriver', method: op, seconds: reply.elapsedTime / 1000, error: request.failure?.error, appliedBytes: request.appliedBytes, diffedBytes: request.diffedBytes });
    const fields = { op, ...idsOf(request), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (request.failure) request.log.warn({ ...fields, err: request.failure.message }, 'request failed');
    else request.log.info(fields, 'request');
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (!reply.hasHeader('content-type')) reply.type(MIME);
    return payload;
  });

  // JSON methods. Docker sends no Content-Type, so one parser takes every body as JSON.
  void app.register(async (json) => {
    json.removeAllContentTypeParsers();
    json.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, parseJsonBody(String(body)));
      } catch (err) {
        done(err as Error, undefined);
      }
    });

    json.post('/Plugin.Activate', async () => ({ Implements: ['GraphDriver'] }));
    json.post('/GraphDriver.Init', async (req) => {
      const r = parseRequest(InitRequest, req.body);
      await session.init({
        home: r.Home,
        options: r.Opts,
        uidMaps: r.UIDMaps.map((m) => ({ containerId: m.container_id, hostId: m.host_id, size: m.size })),
        gidMaps: r.GIDMaps.map((m) => ({ containerId: m.container_id, hostId: m.host_id, size: m.size })),
      });
      return {};
    });
    json.post('/GraphDriver.Capabilities', async (req) => {
      parseRequest(EmptyRequest, req.body);
      return { Capabilities: { ReproducesExactDiffs: false } };
    });
    json.post('/GraphDriver.Create', async (req) => {
      await create(parseRequest(CreateRequest, req.body), false);
      return {};
    });
    json.post('/GraphDriver.CreateReadWrite', async (req) => {
      await create(parseRequest(CreateRequest, req.body), true);
      return {};
    });
    json.post('/GraphDriver.Remove', async (req) => {
      await store().remove(parseRequest(IdRequest, req.body).ID);
      return {};
    });
    json.post('/GraphDriver.Get', async (req) => {
      const r = parseRequest(GetRequest, req.body);
      return { Dir: await store().get(r.ID, r.MountLabel) };
    });
    json.post('/GraphDriver.Put', async (req) => {
      await store().put(parseRequest(IdRequest, req.body).ID);
      return {};
    });
    json.post('/GraphDriver.Exists', async (req) => {
      return { Exists: await store().exists(parseRequest(IdRequest, req.body).ID) };
    });
    json.post('/GraphDriver.Status', async () => {
      return { Status: await statusLines(store(), session.options) };
    });
    json.post('/GraphDriver.GetMetadata', async (req) => {
      return { Metadata: await store().metadata(parseRequest(IdRequest, req.body).ID) };
    });
    json.post('/GraphDriver.Cleanup', async () => {
      await store().cleanup();
      return {};
    });
    json.post('/GraphDriver.Changes', async (req) => {
      const r = parseRequest(DiffRequest, req.body);
      const list = await naive.changes(store(), r.ID, r.Parent);
      return { Changes: list.map((c) => ({ Path: toUtf8(c.path), Kind: c.kind })) };
    });
    json.post('/GraphDriver.DiffSize', async (req) => {
      const r = parseRequest(DiffRequest, req.body);
      return { Size: await naive.diffSize(store(), r.ID, r.Parent) };
    });
    json.post('/GraphDriver.Diff', async (req, reply) => {
      const r = parseRequest(DiffRequest, req.body);
      const tar = await naive.diff(store(), r.ID, r.Parent);
      return reply.type('application/x-tar').send(Readable.from(countBytes(tar, (n) => (req.diffedBytes = n))));
    });
    // Strata's own, not GraphDriver's: what `strata status` shows (docker never sends it).
    json.post('/Strata.Status', async (req) => {
      const r = parseRequest(StatusRequest, req.body);
      return statusReport({ version: VERSION, command: 'serve', metrics, home: () => session.home() }, { gc: r.gc });
    });
  });

  // ApplyDiff: ids come from the query string only; the body is the raw tar stream.
  void app.register(async (stream) => {
    stream.removeAllContentTypeParsers();
    stream.addContentTypeParser('*', { bodyLimit: Number.MAX_SAFE_INTEGER }, (_req: FastifyRequest, payload: IncomingMessage, done) => {
      done(null, payload);
    });
    stream.post('/GraphDriver.ApplyDiff', async (req) => {
      const q = parseRequest(ApplyDiffQuery, req.query);
      const body = req.body as Readable | undefined;
      if (!body) throw new InvalidArgumentError('ApplyDiff needs the layer tar as its body');
      const chunks = new StreamChunks(body);
      try {
        const size = await store().applyDiff(q.id, q.parent, chunks);
        req.appliedBytes = chunks.bytes;
        return { Size: size };
      } finally {
        chunks.stop();
      }
    });
  });

  return app;
}

