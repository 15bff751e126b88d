/**
 * What a running Strata counts about itself: one record per request from each front end
 * (method, outcome, latency, error kind, archive bytes), a short list of the latest errors for
 * `strata status`, and gauges that read the store when they are scraped, so the stores keep no
 * counters of their own. The registry exists in every process; serving it over HTTP is opt-in
 * (see metrics-server.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { errorKind } from '../errors';

/** Service names the front end a request came through (the snapshotter process serves two). */
export type Service = 'graphdriver' | 'snapshots' | 'diff';

/** RequestRecord describes one finished request, as its front end logs it. */
export interface RequestRecord {
  service: Service;
  /** the protocol's method name (GraphDriver.ApplyDiff is `ApplyDiff`, gRPC Prepare is `Prepare`) */
  method: string;
  seconds: number;
  /** what the request failed with; absent when it succeeded */
  error?: unknown;
  /** the request was left to another implementation (containerd's next differ): routine, not a failure */
  passedOn?: boolean;
  /** bytes of layer archive read and applied */
  appliedBytes?: number;
  /** bytes of layer archive produced */
  diffedBytes?: number;
}

/** StoreSample is what the store holds now; `layers` for a layer store, `snapshots` by kind for a snapshot store. */
export interface StoreSample {
  layers?: number;
  snapshots?: Record<string, number>;
  /** layers mounted with outstanding gets, and mounted only until their idle timer ends (a snapshot store mounts nothing itself) */
  mounts?: { active: number; idle: number };
  /** removed layers or snapshots whose trees are still being deleted */
  pendingDeletes: number;
}

/** RecentError is one of the latest failed requests, with the message its client got. */
export interface RecentError {
  at: string;
  service: Service;
  method: string;
  kind: string;
  message: string;
}

/** RECENT_ERRORS is how many failed requests `strata status` can show. */
const RECENT_ERRORS = 20;

/** Latency buckets from 0.5 ms (a Get of a mounted layer) to 2 min (a large ApplyDiff). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface MetricsOptions {
  /** which gauges there are: a GraphDriver layer store's, or a snapshot store's */
  store: 'layers' | 'snapshots';
  /** reads the store at scrape time; undefined while there is none (GraphDriver before Init) */
  sample: () => Promise<StoreSample | undefined>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly startedAt = new Date();
  readonly #durations: Histogram<'service' | 'method' | 'outcome'>;
  readonly #errors: Counter<'service' | 'method' | 'kind'>;
  readonly #applied: Counter<'service'>;
  readonly #diffed: Counter<'service'>;
  readonly #recent: RecentError[] = [];
  readonly #sample: () => Promise<StoreSample | undefined>;
  #sampling: Promise<StoreSample | undefined> | undefined;
  #requests = 0;
  #failed = 0;

  constructor(options: MetricsOptions) {
    this.#sample = options.sample;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#durations = new Histogram({
      name: 'strata_request_duration_seconds',
      help: 'Requests by service, method and outcome (ok, error, or passed_on to containerd\'s next differ), with their latency; _count is the number of requests',
      labelNames: ['service', 'method', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#errors = new Counter({ name: 'strata_request_errors_total', help: 'Failed requests by service, method and error kind', labelNames: ['service', 'method', 'kind'], registers });
    this.#applied = new Counter({ name: 'strata_applied_bytes_total', help: 'Bytes of layer archives read and applied', labelNames: ['service'], registers });
    this.#diffed = new Counter({ name: 'strata_diffed_bytes_total', help: 'Bytes of layer archives produced', labelNames: ['service'], registers });
    const metrics = this;
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], read: (g: Gauge<L>, s: StoreSample) => void) =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          const s = await metrics.sample();
          if (s) read(this, s);
        },
      });
    if (options.store === 'layers') {
      gauge('strata_layers', 'Layers in the GraphDriver home (0 before Init)', [], (g, s) => g.set(s.layers ?? 0));
      gauge('strata_mounts', 'Layer mounts: active (with outstanding gets) and idle (kept until their idle timer ends)', ['state'], (g, s) => {
        g.set({ state: 'active' }, s.mounts?.active ?? 0);
        g.set({ state: 'idle' }, s.mounts?.idle ?? 0);
      });
    } else {
      gauge('strata_snapshots', 'Snapshots by kind', ['kind'], (g, s) => {
        for (const [kind, n] of Object.entries(s.snapshots ?? {})) g.set({ kind }, n);
      });
    }
    gauge('strata_pending_deletes', 'Removed layers or snapshots whose trees are still being deleted in the background', [], (g, s) => g.set(s.pendingDeletes));
  }

  /** request records one finished request: the one call a front end makes, beside its log line. */
  request(r: RequestRecord): void {
    const outcome = r.passedOn ? 'passed_on' : r.error === undefined ? 'ok' : 'error';
    this.#durations.observe({ service: r.service, method: r.method, outcome }, r.seconds);
    this.#requests++;
    if (r.appliedBytes) this.#applied.inc({ service: r.service }, r.appliedBytes);
    if (r.diffedBytes) this.#diffed.inc({ service: r.service }, r.diffedBytes);
    if (outcome !== 'error') return;
    this.#failed++;
    const kind = errorKind(r.error);
    this.#errors.inc({ service: r.service, method: r.method, kind });
    // Only our own errors' messages are meant for clients; others may carry host paths.
    const message = kind === 'internal' ? 'internal error (see the log)' : String((r.error as Error).message ?? r.error);
    this.#recent.push({ at: new Date().toISOString(), service: r.service, method: r.method, kind, message: message.slice(0, 500) });
    if (this.#recent.length > RECENT_ERRORS) this.#recent.shift();
  }

  /** totals counts the requests since the start, and how many failed. */
  totals(): { requests: number; failed: number } {
    return { requests: this.#requests, failed: this.#failed };
  }

  /** recentErrors returns the latest failed requests, oldest first. */
  recentErrors(): RecentError[] {
    return [...this.#recent];
  }

  /** sample reads the store, once however many gauges ask during one scrape. */
  sample(): Promise<StoreSample | undefined> {
    this.#sampling ??= this.#sample().finally(() => {
      this.#sampling = undefined;
    });
    return this.#sampling;
  }
}

/** countBytes passes `source` through and reports how many bytes went by once it ends or stops. */
export async function* countBytes(source: AsyncIterable<Buffer>, report: (bytes: number) => void): AsyncGenerator<Buffer> {
  let bytes = 0;
  try {
    for await (const chunk of source) {
      bytes += chunk.length;
      yield chunk;
    }
  } finally {
    report(bytes);
  }
}
