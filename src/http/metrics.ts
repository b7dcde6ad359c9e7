/**
 * Prometheus metrics: {@link PromMetrics} implements the hub's {@link HubMetrics} with `prom-client` on a
 * registry of its own (never the global one, so two servers in one process do not collide), plus Node's
 * default process metrics; {@link createMetricsHandler} serves them at `GET /metrics` in the text format.
 *
 * Label values are bounded: a namespace label is one of the configured namespaces, `(default)` for the default
 * namespace, or `(other)` for any namespace that is not configured (clients choose channel names, and
 * unbounded label values would let them grow the registry without limit).
 *
 * @example
 * ```ts
 * const metrics = new PromMetrics({ namespaces: ['chat'] });
 * const hub = new Hub({ broker, history, presence, metrics });
 * const handler = createMetricsHandler(metrics);
 * ```
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HubMetrics } from '../hub/metrics.js';
import type { HttpHandler } from './api.js';

/** Options of {@link PromMetrics}. */
export interface PromMetricsOptions {
  /** Configured namespace names; others are counted as `(other)`. @default [] */
  readonly namespaces?: readonly string[];
  /** Also collect Node's default process metrics (CPU, memory, event loop lag, GC). @default true */
  readonly defaultMetrics?: boolean;
  /** Buckets of `volley_publish_duration_seconds`, in seconds. @default 0.5 ms to 2.5 s */
  readonly publishBuckets?: readonly number[];
}

/** Label value of the default namespace `''`. */
export const DEFAULT_NAMESPACE_LABEL = '(default)';
/** Label value of namespaces that are not configured. */
export const OTHER_NAMESPACE_LABEL = '(other)';

const DEFAULT_PUBLISH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The hub's metrics in a prom-client registry. */
export class PromMetrics implements HubMetrics {
  /** The registry holding every Volley metric (and the process metrics). */
  readonly registry = new Registry();
  readonly #namespaces: ReadonlySet<string>;
  readonly #connections: Gauge<'transport'>;
  readonly #subscriptions: Gauge<'namespace'>;
  readonly #commands: Counter<'type'>;
  readonly #inBytes: Counter;
  readonly #publications: Counter<'namespace'>;
  readonly #deliveries: Counter<'namespace'>;
  readonly #outBytes: Counter<'namespace'>;
  readonly #publishDuration: Histogram;
  readonly #recoveries: Counter<'namespace' | 'result'>;
  readonly #gaps: Counter<'namespace'>;
  readonly #rateLimited: Counter<'scope'>;
  readonly #slowConsumers: Counter<'policy'>;
  readonly #httpRequests: Counter<'route' | 'status'>;

  constructor(options: PromMetricsOptions = {}) {
    this.#namespaces = new Set(options.namespaces ?? []);
    const registers = [this.registry];
    this.#connections = new Gauge({ name: 'volley_connections', help: 'Open client connections, by transport.', labelNames: ['transport'], registers });
    this.#subscriptions = new Gauge({
      name: 'volley_subscriptions',
      help: 'Active channel subscriptions, by namespace.',
      labelNames: ['namespace'],
      registers,
    });
    this.#commands = new Counter({ name: 'volley_commands_total', help: 'Commands received from clients, by type.', labelNames: ['type'], registers });
    this.#inBytes = new Counter({ name: 'volley_messages_in_bytes_total', help: 'Encoded bytes of the commands received.', registers });
    this.#publications = new Counter({
      name: 'volley_publications_total',
      help: 'Publications accepted (clients and HTTP API), by namespace.',
      labelNames: ['namespace'],
      registers,
    });
    this.#deliveries = new Counter({
      name: 'volley_deliveries_total',
      help: 'Publications written to local subscribers (one per subscriber), by namespace.',
      labelNames: ['namespace'],
      registers,
    });
    this.#outBytes = new Counter({
      name: 'volley_messages_out_bytes_total',
      help: 'Encoded bytes of the publications written to subscribers, by namespace.',
      labelNames: ['namespace'],
      registers,
    });
    this.#publishDuration = new Histogram({
      name: 'volley_publish_duration_seconds',
      help: 'Time from a publish to its hand-off to the broker (history append included).',
      buckets: [...(options.publishBuckets ?? DEFAULT_PUBLISH_BUCKETS)],
      registers,
    });
    this.#recoveries = new Counter({
      name: 'volley_recoveries_total',
      help: 'Subscriptions that asked to recover, by namespace and result (recovered or gap).',
      labelNames: ['namespace', 'result'],
      registers,
    });
    this.#gaps = new Counter({ name: 'volley_gaps_total', help: 'Gaps reported to clients, by namespace.', labelNames: ['namespace'], registers });
    this.#rateLimited = new Counter({
      name: 'volley_rate_limited_total',
      help: 'Commands refused by a rate limit, by scope (connection, user, ip, channel).',
      labelNames: ['scope'],
      registers,
    });
    this.#slowConsumers = new Counter({
      name: 'volley_slow_consumers_total',
      help: 'Slow consumers disconnected or messages dropped for them, by policy.',
      labelNames: ['policy'],
      registers,
    });
    this.#httpRequests = new Counter({
      name: 'volley_http_api_requests_total',
      help: 'HTTP API requests answered, by route and status.',
      labelNames: ['route', 'status'],
      registers,
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The bounded label value of namespace `ns`. */
  namespaceLabel(ns: string): string {
    if (ns === '') return DEFAULT_NAMESPACE_LABEL;
    return this.#namespaces.has(ns) ? ns : OTHER_NAMESPACE_LABEL;
  }

  connectionOpened(transport: string): void {
    this.#connections.inc({ transport });
  }
  connectionClosed(transport: string): void {
    this.#connections.dec({ transport });
  }
  subscriptionAdded(ns: string): void {
    this.#subscriptions.inc({ namespace: this.namespaceLabel(ns) });
  }
  subscriptionRemoved(ns: string): void {
    this.#subscriptions.dec({ namespace: this.namespaceLabel(ns) });
  }
  commandReceived(type: string, bytes: number): void {
    this.#commands.inc({ type });
    if (bytes > 0) this.#inBytes.inc(bytes);
  }
  published(ns: string, seconds: number): void {
    this.#publications.inc({ namespace: this.namespaceLabel(ns) });
    this.#publishDuration.observe(seconds);
  }
  delivered(ns: string, count: number, bytes: number): void {
    const namespace = this.namespaceLabel(ns);
    if (count > 0) this.#deliveries.inc({ namespace }, count);
    if (bytes > 0) this.#outBytes.inc({ namespace }, bytes);
  }
  recovery(ns: string, recovered: boolean): void {
    this.#recoveries.inc({ namespace: this.namespaceLabel(ns), result: recovered ? 'recovered' : 'gap' });
  }
  gap(ns: string): void {
    this.#gaps.inc({ namespace: this.namespaceLabel(ns) });
  }
  rateLimited(scope: string): void {
    this.#rateLimited.inc({ scope });
  }
  slowConsumer(policy: string): void {
    this.#slowConsumers.inc({ policy });
  }

  /** Counts an answered HTTP API request (see `ApiOptions.onResponse`). */
  httpRequest(route: string, status: number): void {
    this.#httpRequests.inc({ route, status: String(status) });
  }

  /** The metrics in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Serves `GET /metrics` (and `HEAD`) from `metrics`; returns false for every other URL. */
export function createMetricsHandler(metrics: PromMetrics): HttpHandler {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    metrics.text().then(
      (text) => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(200, {
          'content-type': metrics.registry.contentType,
          'content-length': String(Buffer.byteLength(text)),
          'cache-control': 'no-store',
        });
        res.end(text);
      },
      () => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('metrics collection failed\n');
      },
    );
    return true;
  };
}
