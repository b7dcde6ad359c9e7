/**
 * Engine outages as the hub's `unavailable` error. An engine that reaches its data over the network (Redis)
 * rejects with code {@link EngineOutageCode.UNAVAILABLE} when it cannot reach it in time and
 * {@link EngineOutageCode.FAILED} when the server refused the operation. Neither is the client's fault and both
 * may pass on retry, so the hub answers them as `unavailable` (WebSocket error reply; HTTP 503) with a fixed
 * message: the cause goes to the server log (a refusal at warn, an unreachable store at debug: the engine's
 * connection handling reports the outage itself, once), never on the wire.
 *
 * The hub wraps the engines it is given ({@link guardEngines}), so every path that reaches an engine — commands,
 * the server-side API, `hub.historyStore` and `hub.presenceStore` used by transports and the HTTP API — sees the
 * same error. Results pass through untouched (the very objects the engine returned).
 *
 * @module
 */

import type { AppendResult, Broker, BrokerHandler, ClientInfo, HistoryPage, HistoryQuery, HistoryStore, PresenceStats, PresenceStore, Publication, StreamPosition } from './engine.js';
import { HubError } from './errors.js';
import type { IdempotencyStore, PublishOnceOptions } from './shared-limits.js';
import { HubErrorCode } from './wire.js';

/** Stable codes of engine outages (`error.code`). Never renamed once released. */
export const EngineOutageCode = {
  /**
   * The engine's server could not be reached in time (not connected, the connection dropped with the operation
   * in flight, no reply). When the operation was already sent its outcome is unknown: retry with the same
   * idempotency key.
   */
  UNAVAILABLE: 'VOLLEY_ERR_ENGINE_UNAVAILABLE',
  /** The engine's server answered with an error (read-only replica after a failover, out of memory…). */
  FAILED: 'VOLLEY_ERR_ENGINE_FAILED',
} as const;

/** One of {@link EngineOutageCode}. */
export type EngineOutageCode = (typeof EngineOutageCode)[keyof typeof EngineOutageCode];

/** Whether `error` is an engine outage (see {@link EngineOutageCode}). */
export function isEngineOutage(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === EngineOutageCode.UNAVAILABLE || code === EngineOutageCode.FAILED;
}

/** Rethrows an engine outage as `HubError` `unavailable`, anything else unchanged. */
export function rethrowOutage(error: unknown): never {
  if (isEngineOutage(error)) {
    throw new HubError(
      HubErrorCode.UNAVAILABLE,
      (error as { code: string }).code === EngineOutageCode.UNAVAILABLE
        ? 'the message store is unreachable: retry later'
        : 'the message store refused the operation: retry later',
    );
  }
  throw error;
}

/** How a guarded engine fails: rethrows, outages as `unavailable`. */
type Fail = (error: unknown) => never;

/**
 * The hub's engines with outages mapped to `unavailable`; `onOutage` sees each outage's original error first
 * (for the log: the client never sees it).
 */
export function guardEngines(
  engines: { broker: Broker; history: HistoryStore; presence: PresenceStore; idempotency: IdempotencyStore },
  onOutage: (error: unknown) => void,
) {
  const fail: Fail = (error) => {
    if (isEngineOutage(error)) onOutage(error);
    return rethrowOutage(error);
  };
  return {
    broker: new GuardedBroker(engines.broker, fail),
    history: new GuardedHistory(engines.history, fail),
    presence: new GuardedPresence(engines.presence, fail),
    idempotency: new GuardedIdempotency(engines.idempotency, fail),
  };
}

class GuardedHistory implements HistoryStore {
  constructor(
    private readonly inner: HistoryStore,
    private readonly fail: Fail,
  ) {}
  append(...args: Parameters<HistoryStore['append']>): Promise<AppendResult> {
    return this.inner.append(...args).catch(this.fail);
  }
  read(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.inner.read(channel, query).catch(this.fail);
  }
  position(channel: string): Promise<StreamPosition> {
    return this.inner.position(channel).catch(this.fail);
  }
  remove(channel: string): Promise<void> {
    return this.inner.remove(channel).catch(this.fail);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

class GuardedPresence implements PresenceStore {
  constructor(
    private readonly inner: PresenceStore,
    private readonly fail: Fail,
  ) {}
  add(channel: string, info: ClientInfo, ttlMs: number): Promise<void> {
    return this.inner.add(channel, info, ttlMs).catch(this.fail);
  }
  remove(channel: string, clientId: string): Promise<void> {
    return this.inner.remove(channel, clientId).catch(this.fail);
  }
  members(channel: string): Promise<ReadonlyMap<string, ClientInfo>> {
    return this.inner.members(channel).catch(this.fail);
  }
  stats(channel: string): Promise<PresenceStats> {
    return this.inner.stats(channel).catch(this.fail);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

class GuardedBroker implements Broker {
  constructor(
    private readonly inner: Broker,
    private readonly fail: Fail,
  ) {}
  setHandler(handler: BrokerHandler): void {
    this.inner.setHandler(handler);
  }
  publish(channel: string, publication: Publication, epoch: string): Promise<void> {
    return this.inner.publish(channel, publication, epoch).catch(this.fail);
  }
  publishJoin(channel: string, info: ClientInfo): Promise<void> {
    return this.inner.publishJoin(channel, info).catch(this.fail);
  }
  publishLeave(channel: string, info: ClientInfo): Promise<void> {
    return this.inner.publishLeave(channel, info).catch(this.fail);
  }
  subscribe(channel: string): Promise<void> {
    return this.inner.subscribe(channel).catch(this.fail);
  }
  unsubscribe(channel: string): Promise<void> {
    return this.inner.unsubscribe(channel);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

class GuardedIdempotency implements IdempotencyStore {
  constructor(
    private readonly inner: IdempotencyStore,
    private readonly fail: Fail,
  ) {}
  publishOnce(channel: string, publication: Publication, options: PublishOnceOptions): Promise<boolean> {
    return this.inner.publishOnce(channel, publication, options).catch(this.fail);
  }
}
