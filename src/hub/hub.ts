/**
 * The hub: the composition root of the realtime domain. It owns the sessions of this node, which of them are
 * subscribed where, and the publish pipeline (history append → broker fan-out, in order per channel). Engines
 * and transports plug in through small interfaces (`engine.ts`, `transport.ts`); nothing here knows about
 * sockets, HTTP or a particular database.
 *
 * @module
 */

import { EventEmitter } from 'node:events';
import { invalidArgument } from '../protocol/errors.js';
import type { Capabilities } from './capabilities.js';
import { encodeOnce } from './codec.js';
import type { AuthError, TokenVerifier } from './auth.js';
import type { Broker, ClientInfo, HistoryPage, HistoryQuery, HistoryStore, Publication, PresenceStore, StreamPosition } from './engine.js';
import { EngineOutageCode, guardEngines } from './engine-errors.js';
import { DisconnectError, HubError } from './errors.js';
import { LocalIdempotency } from './idempotency.js';
import { noopMetrics, type HubMetrics } from './metrics.js';
import { Namespaces, type NamespaceOptions, type NamespacesConfig } from './namespaces.js';
import { RateLimiter, ViolationTracker, type RateLimitOptions, type RateLimitScope } from './rate-limit.js';
import { RateLimitSync } from './rate-sync.js';
import { publicationPush, Session, SessionState, toWirePublication } from './session.js';
import type { IdempotencyStore, SharedRateLimitStore } from './shared-limits.js';
import type { ConnectionRequest, Transport } from './transport.js';
import { DEFAULT_COMMAND_LIMITS, type CommandLimits } from './validate.js';
import { DisconnectCode, HubErrorCode, type Command, type GapPush, type PublishResult, type SubscribeResult, type WirePosition } from './wire.js';

/** A pino-compatible logger (only the methods the hub calls). */
export interface HubLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silentLogger: HubLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** What an `onConnect` hook may change about a connection. */
export interface ConnectOverrides {
  /** The user id to use instead of the token's. */
  userId?: string;
  /** Connection info (replaces the token's `info`). */
  info?: unknown;
  /** When the connection expires (ms since the epoch); it must `refresh` before. */
  expiresAt?: number;
  /** Channel capabilities (replace the token's). */
  capabilities?: Capabilities;
}

/** Application hooks: accept, refuse (throw a `HubError` or `DisconnectError`) or transform. */
export interface HubHooks {
  /** A client sent its connect command (after token verification). May change the user id or info. */
  onConnect?(ctx: {
    clientId: string;
    userId: string;
    transport: string;
    request: ConnectionRequest;
    info: unknown;
  }): void | ConnectOverrides | Promise<void | ConnectOverrides>;
  /** A client asks to subscribe. */
  onSubscribe?(ctx: { clientId: string; userId: string; channel: string; presenceData: unknown }): void | Promise<void>;
  /** A client publishes. Return `{ data }` to replace the payload. */
  onPublish?(ctx: { clientId: string; userId: string; channel: string; data: unknown }): void | { data: unknown } | Promise<void | { data: unknown }>;
  /** A client calls `rpc(method, data)`; the return value is the reply's `data`. */
  onRpc?(ctx: { clientId: string; userId: string; method: string; data: unknown }): unknown;
  /** A session ended. */
  onDisconnect?(ctx: { clientId: string; userId: string; code: number; reason: string }): void;
}

/** Hub-wide limits. */
export interface HubLimits {
  /** @default 128 */
  maxSubscriptionsPerConnection: number;
  /** A connection that has not sent `connect` within this many ms is closed (4003). @default 10000 */
  connectTimeoutMs: number;
  /** Advertised to clients; fallback transports expect a `ping` command this often. @default 25000 */
  pingIntervalMs: number;
  /** What to do when a client's outbound queue is full. @default 'disconnect' */
  slowConsumerPolicy: 'disconnect' | 'drop';
  /** Idempotency keys are remembered this long, in ms. @default 120000 */
  dedupeWindowMs: number;
  /** Presence entries expire after this long unless refreshed (the hub refreshes at a third of it). @default 60000 */
  presenceTtlMs: number;
  /**
   * Most publications replayed in one subscribe reply. When a client missed more, the newest ones are replayed
   * and the older ones reported as a gap (it can page them in with `history`).
   * @default 1000
   */
  maxRecoveredPublications: number;
  /**
   * How often the positions of subscribed channels are compared with their history to find a subscription the
   * broker silently stopped feeding, in ms.
   * @default 10000
   */
  positionCheckIntervalMs: number;
  /** Command validation limits. */
  commands: CommandLimits;
}

/** The defaults of {@link HubLimits}. */
export const DEFAULT_HUB_LIMITS: Readonly<HubLimits> = Object.freeze({
  maxSubscriptionsPerConnection: 128,
  connectTimeoutMs: 10_000,
  pingIntervalMs: 25_000,
  slowConsumerPolicy: 'disconnect',
  dedupeWindowMs: 120_000,
  presenceTtlMs: 60_000,
  maxRecoveredPublications: 1000,
  positionCheckIntervalMs: 10_000,
  commands: DEFAULT_COMMAND_LIMITS,
});

/** Options of a {@link Hub}. */
export interface HubOptions {
  broker: Broker;
  history: HistoryStore;
  presence: PresenceStore;
  /** Namespace settings. */
  namespaces?: NamespacesConfig;
  /** Verifies connect tokens; without one, only anonymous connections are possible. */
  verifier?: TokenVerifier | null;
  /**
   * Accept connections without a token (user id `''`).
   * @default false
   */
  allowAnonymous?: boolean;
  hooks?: HubHooks;
  /** Token buckets per connection, user, IP and channel. */
  rateLimits?: RateLimitOptions;
  /**
   * Shares the `user`, `ip` and `channel` buckets with the other nodes of the hub (see shared-limits.ts for the
   * design and its over-admission bound); failures fail open.
   * @default none: each node limits on its own
   */
  sharedRateLimits?: SharedRateLimitStore;
  /**
   * Where idempotency keys of channels without history are remembered (channels with history use the history
   * store). A shared store makes a retry on another node a duplicate too.
   * @default this node's memory ({@link LocalIdempotency})
   */
  idempotency?: IdempotencyStore;
  limits?: Partial<HubLimits>;
  metrics?: HubMetrics;
  logger?: HubLogger;
  /** Reported to clients in the connect reply. */
  server?: { name: string; version: string };
}

/** What a token (or its absence) establishes about a connection. */
export interface Identity {
  userId: string;
  capabilities: Capabilities | null;
  expiresAt?: number;
  info?: unknown;
}

/** A node's realtime hub. Transports hand it connections with {@link Hub.accept}. */
export class Hub extends EventEmitter {
  readonly namespaces: Namespaces;
  readonly limits: Readonly<HubLimits>;
  readonly commandLimits: CommandLimits;
  readonly metrics: HubMetrics;
  readonly logger: HubLogger;
  readonly hooks: HubHooks;
  readonly serverInfo: { name: string; version: string };
  readonly historyStore: HistoryStore;
  readonly presenceStore: PresenceStore;

  private readonly broker: Broker;
  private readonly idempotency: IdempotencyStore;
  private readonly verifier: TokenVerifier | null;
  private readonly allowAnonymous: boolean;
  private readonly limiter: RateLimiter;
  /** Debits the shared scopes to the shared store; null without one. */
  private readonly rateSync: RateLimitSync | null;
  private readonly violations = new ViolationTracker();
  /** Sessions of this node by id. */
  private readonly sessions = new Map<string, Session>();
  /** Local subscribers of each channel. */
  private readonly channels = new Map<string, Set<Session>>();
  /** The broker subscription of each channel with local subscribers (awaited by every new subscriber). */
  private readonly brokerSubscriptions = new Map<string, Promise<void>>();
  /** Per-channel publish chains: publications of one channel go to the broker in offset order. */
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly timer: NodeJS.Timeout;
  private lastPresenceRefresh = Date.now();
  private lastPositionCheck = Date.now();
  private checkingPositions = false;
  /** Newest publication fanned out here, per channel with history (for the starvation check). */
  private readonly lastDelivered = new Map<string, { epoch: string; offset: number }>();
  /** Channels found behind at the last check, with the offset they were behind at. */
  private readonly suspects = new Map<string, { epoch: string; offset: number }>();
  private closing = false;

  constructor(options: HubOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
    // Engine outages surface as `unavailable` on every path (engine-errors.ts). A store that is down is reported
    // by its own connection handling, once per outage; a refusal (READONLY, OOM, a script error) is logged here.
    const engines = guardEngines(
      {
        broker: options.broker,
        history: options.history,
        presence: options.presence,
        idempotency: options.idempotency ?? new LocalIdempotency(options.broker),
      },
      (error) => {
        if ((error as { code?: unknown }).code === EngineOutageCode.FAILED) this.logger.warn({ err: error }, 'the message store refused an operation');
        else this.logger.debug({ err: error }, 'the message store is unreachable');
      },
    );
    this.broker = engines.broker;
    this.historyStore = engines.history;
    this.presenceStore = engines.presence;
    this.idempotency = engines.idempotency;
    this.namespaces = new Namespaces(options.namespaces);
    this.limits = Object.freeze({ ...DEFAULT_HUB_LIMITS, ...options.limits });
    for (const key of ['maxSubscriptionsPerConnection', 'connectTimeoutMs', 'pingIntervalMs', 'dedupeWindowMs', 'presenceTtlMs', 'maxRecoveredPublications', 'positionCheckIntervalMs'] as const) {
      if (!Number.isSafeInteger(this.limits[key]) || this.limits[key] <= 0) invalidArgument(`limits.${key} must be a positive integer`);
    }
    if (this.limits.slowConsumerPolicy !== 'disconnect' && this.limits.slowConsumerPolicy !== 'drop') {
      invalidArgument("limits.slowConsumerPolicy must be 'disconnect' or 'drop'");
    }
    this.commandLimits = this.limits.commands;
    this.verifier = options.verifier ?? null;
    this.allowAnonymous = options.allowAnonymous ?? false;
    this.hooks = options.hooks ?? {};
    this.metrics = options.metrics ?? noopMetrics;
    this.serverInfo = options.server ?? { name: 'volley', version: '0' };
    this.limiter = new RateLimiter(options.rateLimits);
    this.rateSync =
      options.sharedRateLimits === undefined
        ? null
        : new RateLimitSync({
            store: options.sharedRateLimits,
            limiter: this.limiter,
            ...(options.rateLimits?.now !== undefined ? { now: options.rateLimits.now } : {}),
            onOutage: (error) => this.logger.warn({ err: error }, 'shared rate limits unavailable: each node limits on its own until the store answers'),
            onRecovery: () => this.logger.info({}, 'shared rate limits available again'),
          });
    this.broker.setHandler({
      publication: (channel, publication, epoch) => this.fanOut(channel, publication, epoch),
      join: (channel, info) => this.fanOutPresence(channel, { type: 'join', channel, info }),
      leave: (channel, info) => this.fanOutPresence(channel, { type: 'leave', channel, info }),
    });
    // One timer for every session: connect deadlines, token expiry, presence refresh, position checks.
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
  }

  // ------------------------------------------------------------------------------------------- connections

  /** Opens a session for a new transport connection. The transport then feeds it with `session.receive()`. */
  accept(transport: Transport, request: ConnectionRequest): Session {
    const session = new Session(this, transport, request);
    if (this.closing) {
      session.disconnect(DisconnectCode.SHUTDOWN, 'server shutting down', 1000);
      return session;
    }
    this.sessions.set(session.id, session);
    this.metrics.connectionOpened(transport.kind);
    return session;
  }

  /** Number of open sessions on this node. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** A session of this node by client id. */
  session(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  /** @internal Verifies a connect or refresh token. */
  async authenticate(session: Session, token: string | undefined): Promise<Identity> {
    if (token === undefined || token === '') {
      if (this.allowAnonymous) return { userId: '', capabilities: null };
      throw new DisconnectError(DisconnectCode.UNAUTHORIZED, 'a token is required');
    }
    if (this.verifier === null) throw new DisconnectError(DisconnectCode.UNAUTHORIZED, 'tokens are not accepted by this server');
    try {
      const verified = await this.verifier.verify(token);
      if (verified.expiresAt !== undefined && verified.expiresAt <= Date.now()) {
        throw Object.assign(new Error('token expired'), { code: 'token_expired' });
      }
      return {
        userId: verified.userId,
        capabilities: verified.capabilities,
        ...(verified.expiresAt !== undefined ? { expiresAt: verified.expiresAt } : {}),
        ...(verified.info !== undefined ? { info: verified.info } : {}),
      };
    } catch (error) {
      const code = (error as AuthError).code;
      this.logger.info({ clientId: session.id, code, remoteAddress: session.request.remoteAddress }, 'token rejected');
      if (code === 'token_expired') throw new DisconnectError(DisconnectCode.TOKEN_EXPIRED, 'token expired');
      // The key set could not be fetched: not the client's fault, so it may retry.
      if (code === 'auth_unavailable') throw new HubError(HubErrorCode.UNAVAILABLE, 'authentication is unavailable, retry later');
      throw new DisconnectError(DisconnectCode.UNAUTHORIZED, 'invalid token');
    }
  }

  /** @internal */
  sessionConnected(session: Session): void {
    this.emit('connect', session);
  }

  /** @internal */
  sessionClosed(session: Session, code: number, reason: string): void {
    if (!this.sessions.delete(session.id)) return;
    this.violations.forget(session.id);
    this.limiter.forget('connection', session.id);
    this.metrics.connectionClosed(session.transport.kind);
    try {
      this.hooks.onDisconnect?.({ clientId: session.id, userId: session.userId, code, reason });
    } catch (error) {
      this.logger.error({ err: error }, 'onDisconnect hook failed');
    }
    this.emit('disconnect', session, code, reason);
  }

  /**
   * @internal Null when the command may proceed; else how long to wait and whether to tell the client with a
   * `rate_limited` push (once per episode). Persisting escalates to a disconnect (4001).
   */
  checkRate(session: Session, command: Command, bytes: number): { retryAfterMs: number; notify: boolean } | null {
    const now = Date.now();
    let retryAfterMs: number;
    if (session.rateLimitedUntil > now) {
      // Once refused, every command is refused until the advertised time: accepting a later command while an
      // earlier one was refused would let a client's publishes overtake each other.
      retryAfterMs = session.rateLimitedUntil - now;
      this.metrics.rateLimited('connection');
    } else {
      const cost = { commands: 1, bytes };
      let wait = 0;
      const scopes: Array<[RateLimitScope, string]> = [
        ['connection', session.id],
        ['ip', session.request.remoteAddress],
      ];
      if (session.userId !== '') scopes.push(['user', session.userId]);
      if (command.type === 'publish') scopes.push(['channel', command.channel]);
      for (const [scope, key] of scopes) {
        const verdict = this.limiter.check(scope, key, cost);
        if (verdict.allowed) {
          this.rateSync?.spent(scope, key, cost);
        } else {
          this.metrics.rateLimited(scope);
          wait = Math.max(wait, verdict.retryAfterMs);
        }
      }
      if (wait === 0) return null;
      retryAfterMs = Number.isFinite(wait) ? Math.max(1, Math.ceil(wait)) : 60_000;
      session.rateLimitedUntil = now + retryAfterMs;
    }
    // Persisting (refused again and again, in or out of the penalty window) escalates to a disconnect (4001).
    const verdict = this.violations.record(session.id);
    if (verdict === 'disconnect') {
      session.disconnect(DisconnectCode.RATE_LIMITED, 'rate limit exceeded', Math.min(Math.max(retryAfterMs, 1000), 60_000));
    }
    return { retryAfterMs, notify: verdict === 'notify' };
  }

  // ------------------------------------------------------------------------------------------- subscriptions

  /** @internal Registers a local subscriber; resolves once the broker delivers the channel to this node. */
  addLocalSubscriber(channel: string, session: Session): Promise<void> {
    let set = this.channels.get(channel);
    if (set === undefined) this.channels.set(channel, (set = new Set()));
    set.add(session);
    let subscribed = this.brokerSubscriptions.get(channel);
    if (subscribed === undefined) {
      subscribed = this.broker.subscribe(channel);
      this.brokerSubscriptions.set(channel, subscribed);
      // A failed broker subscription is forgotten, so the next subscriber tries again.
      subscribed.catch(() => {
        if (this.brokerSubscriptions.get(channel) === subscribed) this.brokerSubscriptions.delete(channel);
      });
    }
    return subscribed.catch((error: unknown) => {
      this.logger.warn({ err: error, channel }, 'broker subscribe failed');
      throw new HubError(HubErrorCode.UNAVAILABLE, 'the broker is unavailable, retry later');
    });
  }

  /** @internal */
  removeLocalSubscriber(channel: string, session: Session): void {
    const set = this.channels.get(channel);
    if (set === undefined || !set.delete(session) || set.size > 0) return;
    this.channels.delete(channel);
    this.brokerSubscriptions.delete(channel);
    this.lastDelivered.delete(channel);
    this.suspects.delete(channel);
    this.broker.unsubscribe(channel).catch((error: unknown) => this.logger.warn({ err: error, channel }, 'broker unsubscribe failed'));
  }

  /** Subscribers of `channel` on this node. */
  localSubscribers(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  /**
   * @internal Reads what a subscriber needs: its replay after `recover`, or just the current position. Reports
   * a gap when the history no longer holds everything after `recover`.
   */
  async recover(channel: string, recover: WirePosition | undefined): Promise<{ result: SubscribeResult; gap: GapPush | null }> {
    if (recover === undefined) {
      const position = await this.historyStore.position(channel);
      return { result: { epoch: position.epoch, offset: position.offset, recovered: false, publications: [] }, gap: null };
    }
    let page: HistoryPage = await this.historyStore.read(channel, { since: recover.offset });
    let gap: GapPush | null = null;
    if (page.epoch !== recover.epoch || recover.offset > page.offset) {
      // The stream the client knew is gone: replay what the new epoch still holds and say what is missing.
      page = await this.historyStore.read(channel, {});
      gap = { type: 'gap', channel, fromOffset: 1, toOffset: Math.max(0, page.oldest - 1), epochChanged: true };
    } else if (recover.offset + 1 < page.oldest) {
      gap = { type: 'gap', channel, fromOffset: recover.offset + 1, toOffset: page.oldest - 1, epochChanged: false };
    }
    let publications = page.publications;
    const cap = this.limits.maxRecoveredPublications;
    if (publications.length > cap) {
      // Too much to replay in one reply: replay the newest `cap`, report the older ones as a gap.
      const firstKept = publications[publications.length - cap]!.offset;
      const from = gap === null ? recover.offset + 1 : gap.fromOffset;
      gap = { type: 'gap', channel, fromOffset: from, toOffset: firstKept - 1, epochChanged: gap?.epochChanged ?? false };
      publications = publications.slice(publications.length - cap);
    }
    return {
      result: { epoch: page.epoch, offset: page.offset, recovered: gap === null, publications: publications.map(toWirePublication) },
      gap,
    };
  }

  /** @internal Adds a presence member and announces the join. */
  async presenceJoin(channel: string, info: ClientInfo, ns: Readonly<NamespaceOptions>): Promise<void> {
    await this.presenceStore.add(channel, info, this.limits.presenceTtlMs);
    if (ns.joinLeave) await this.broker.publishJoin(channel, info);
  }

  /** @internal Removes a presence member and announces the leave. */
  async presenceLeave(channel: string, info: ClientInfo, ns: Readonly<NamespaceOptions>): Promise<void> {
    await this.presenceStore.remove(channel, info.clientId);
    if (ns.joinLeave) await this.broker.publishLeave(channel, info);
  }

  // ---------------------------------------------------------------------------------------------- publishing

  /**
   * Publishes `data` to `channel` (server-side: no permission check). With history, the publication gets the
   * channel's next offset; with `idempotencyKey`, a repeat within the dedupe window returns the first result
   * and publishes nothing.
   *
   * @example
   * ```ts
   * const { epoch, offset } = await hub.publish('chat:lobby', { text: 'hello' });
   * ```
   */
  publish(channel: string, data: unknown, options: { info?: ClientInfo; idempotencyKey?: string | undefined } = {}): Promise<PublishResult> {
    const ns = this.namespaces.lookup(channel);
    if (ns === null) return Promise.reject(new HubError(HubErrorCode.NOT_FOUND, 'unknown namespace'));
    const started = performance.now();
    const nsName = Namespaces.nameOf(channel);
    return this.serialize(channel, async () => {
      const time = Date.now();
      const key = options.idempotencyKey;
      let result: PublishResult;
      if (ns.historySize > 0) {
        let appended;
        try {
          appended = await this.historyStore.append(
            channel,
            options.info === undefined ? { data, time } : { data, info: options.info, time },
            {
              size: ns.historySize,
              ttlMs: ns.historyTtlMs,
              dedupeWindowMs: this.limits.dedupeWindowMs,
              ...(key !== undefined ? { idempotencyKey: key } : {}),
            },
          );
        } catch (error) {
          if ((error as { code?: unknown }).code === 'VOLLEY_ERR_NOT_JSON') throw new HubError(HubErrorCode.BAD_REQUEST, 'data must be a JSON value');
          throw error;
        }
        result = { epoch: appended.epoch, offset: appended.publication.offset };
        if (appended.duplicate) return result;
        if (appended.publishedByHistory !== true) await this.broker.publish(channel, appended.publication, appended.epoch);
      } else {
        // Without history every result is the same, so a duplicate answers exactly what the first publish did.
        result = { epoch: '', offset: 0 };
        const publication: Publication = options.info === undefined ? { offset: 0, data, time } : { offset: 0, data, info: options.info, time };
        if (key === undefined) await this.broker.publish(channel, publication, '');
        else if (!(await this.idempotency.publishOnce(channel, publication, { idempotencyKey: key, windowMs: this.limits.dedupeWindowMs }))) return result;
      }
      this.metrics.published(nsName, (performance.now() - started) / 1000);
      return result;
    });
  }

  /** Publishes the same data to several channels; one result (or error) per channel, in order. */
  async broadcast(channels: readonly string[], data: unknown, options: { idempotencyKey?: string } = {}) {
    return Promise.all(
      channels.map((channel) =>
        this.publish(channel, data, options).then(
          (result) => ({ channel, ...result }),
          (error: unknown) => ({ channel, error: error instanceof HubError ? error.toWire() : { code: HubErrorCode.INTERNAL, message: 'internal error' } }),
        ),
      ),
    );
  }

  /** Runs `task` after every earlier task of the same channel, so offsets reach the broker in order. */
  private serialize<T>(channel: string, task: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(channel) ?? Promise.resolve();
    const next = previous.then(task, task);
    const tail = next.then(noop, noop);
    this.chains.set(channel, tail);
    void tail.then(() => {
      if (this.chains.get(channel) === tail) this.chains.delete(channel);
    });
    return next;
  }

  /** Writes a publication to every local subscriber: encoded once per encoding, the same bytes for all. */
  private fanOut(channel: string, publication: Publication, epoch: string): void {
    const subscribers = this.channels.get(channel);
    if (subscribers === undefined) return;
    if (publication.offset > 0) {
      const last = this.lastDelivered.get(channel);
      // The namespace is looked up only for a jump (not on every publication).
      if (last !== undefined && last.epoch === epoch && publication.offset > last.offset + 1 && (this.namespaces.lookup(channel)?.historySize ?? 0) > 0) {
        // Publications were lost on the way here (a silent broker): catch up from history; catch-up buffers
        // are set synchronously, so this one and later ones are held behind the replay.
        this.resync([channel]).catch((error: unknown) => this.logger.warn({ err: error, channel }, 'catch-up after an offset jump failed'));
      }
      this.lastDelivered.set(channel, { epoch, offset: publication.offset });
    }
    const shared = encodeOnce(publicationPush(channel, publication));
    let bytes = 0;
    for (const session of subscribers) bytes += session.deliver(channel, publication, epoch, shared);
    this.metrics.delivered(Namespaces.nameOf(channel), subscribers.size, bytes);
  }

  private fanOutPresence(channel: string, push: { type: 'join' | 'leave'; channel: string; info: ClientInfo }): void {
    const subscribers = this.channels.get(channel);
    if (subscribers === undefined) return;
    for (const session of subscribers) session.deliverPresence(channel, push);
  }

  // --------------------------------------------------------------------------------------- server-side API

  /** Reads a channel's history (server-side: no permission check). */
  history(channel: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.historyStore.read(channel, query);
  }

  /** Presence members of a channel. */
  async presence(channel: string): Promise<ClientInfo[]> {
    return [...(await this.presenceStore.members(channel)).values()];
  }

  /** Channels with subscribers on this node, with their local subscriber counts. */
  channelList(): Array<{ channel: string; subscribers: number }> {
    return [...this.channels].map(([channel, set]) => ({ channel, subscribers: set.size }));
  }

  /** Subscribes a connected client to `channel` from the server (it gets a `subscribed` push). */
  async subscribe(clientId: string, channel: string): Promise<void> {
    const session = this.sessions.get(clientId);
    if (session === undefined || session.state !== SessionState.CONNECTED) throw new HubError(HubErrorCode.NOT_FOUND, 'no such client');
    const { result, flush } = await session.subscribe(channel, undefined, undefined, true);
    session.push({ type: 'subscribed', channel, epoch: result.epoch, offset: result.offset });
    flush();
  }

  /** Removes a client's subscription from the server (it gets an `unsubscribed` push). */
  async unsubscribe(clientId: string, channel: string, reason = 'unsubscribed by server'): Promise<void> {
    const session = this.sessions.get(clientId);
    if (session === undefined) throw new HubError(HubErrorCode.NOT_FOUND, 'no such client');
    await session.unsubscribe(channel);
    session.push({ type: 'unsubscribed', channel, reason });
  }

  /**
   * Disconnects clients of this node by client id or user id. Returns how many were disconnected.
   * `reconnect: false` uses code 4504 (the client must not come back), otherwise 4004.
   */
  disconnect(target: { clientId?: string; userId?: string }, options: { reason?: string; reconnect?: boolean } = {}): number {
    // '' is every anonymous connection, never a target one means.
    if (target.userId === '' || target.clientId === '') throw new HubError(HubErrorCode.BAD_REQUEST, 'clientId and userId must not be empty');
    const code = options.reconnect === false ? DisconnectCode.KICKED : DisconnectCode.DISCONNECTED;
    const reason = options.reason ?? 'disconnected by server';
    let count = 0;
    for (const session of [...this.sessions.values()]) {
      if ((target.clientId !== undefined && session.id === target.clientId) || (target.userId !== undefined && session.userId === target.userId)) {
        session.disconnect(code, reason);
        count++;
      }
    }
    return count;
  }

  /** @internal Calls the application's RPC handler. */
  async rpc(session: Session, method: string, data: unknown): Promise<unknown> {
    if (this.hooks.onRpc === undefined) throw new HubError(HubErrorCode.METHOD_NOT_FOUND, 'method not found');
    return this.hooks.onRpc({ clientId: session.id, userId: session.userId, method, data });
  }

  /**
   * Drains this node: refuses new sessions and tells every client to reconnect elsewhere (1001 with a random
   * delay within `reconnectWindowMs`, so reconnects spread out instead of arriving at once).
   */
  shutdown(options: { reconnectWindowMs?: number } = {}): void {
    this.closing = true;
    const window = options.reconnectWindowMs ?? 5000;
    for (const session of [...this.sessions.values()]) {
      session.disconnect(DisconnectCode.SHUTDOWN, 'server shutting down', Math.floor(Math.random() * window));
    }
  }

  /**
   * Brings every local subscriber of `channels` up to date from history: what a broker outage (or a starved
   * subscription) kept from them is replayed in order, exactly once, or reported as a gap. Call it when the
   * broker has resubscribed after losing its connection.
   */
  async resync(channels: readonly string[]): Promise<void> {
    await Promise.all(
      channels.map(async (channel) => {
        const subscribers = this.channels.get(channel);
        const ns = this.namespaces.lookup(channel);
        if (subscribers === undefined) return;
        if (ns === null || ns.historySize === 0) {
          // Without history nothing can be replayed: say that publications may have been missed.
          for (const session of subscribers) session.pushUnknownGap(channel);
          return;
        }
        const reached = await Promise.all([...subscribers].map((session) => session.catchUp(channel)));
        // What the subscribers now have counts as delivered here: the next live publication is no offset jump
        // (which would start a second, useless catch-up of every subscriber).
        for (const position of reached) {
          if (position !== null && isBehind(this.lastDelivered.get(channel), position)) this.lastDelivered.set(channel, position);
        }
      }),
    );
  }

  /**
   * Finds subscriptions starved without an error (the broker connection alive but silent): when a channel's
   * history has moved past the newest publication delivered here at two checks in a row, its subscribers are
   * resynced from history.
   */
  private async checkPositions(): Promise<void> {
    for (const channel of [...this.channels.keys()]) {
      const ns = this.namespaces.lookup(channel);
      if (ns === null || ns.historySize === 0) continue;
      let position;
      try {
        position = await this.historyStore.position(channel);
      } catch {
        continue; // the store is unavailable: nothing to compare now
      }
      const delivered = this.lastDelivered.get(channel);
      const behind = delivered === undefined ? position.offset > 0 : isBehind(delivered, position);
      const suspect = this.suspects.get(channel);
      const stillMissing = suspect !== undefined && isBehind(delivered, suspect);
      if (!behind) {
        this.suspects.delete(channel);
      } else if (stillMissing) {
        this.suspects.delete(channel);
        this.logger.warn({ channel, position }, 'subscription starved: resyncing from history');
        await this.resync([channel]);
        // Also when the catch-up failed: the channel is not reported starved again until history moves on.
        if (isBehind(this.lastDelivered.get(channel), position)) this.lastDelivered.set(channel, position);
      } else {
        this.suspects.set(channel, position);
      }
    }
  }

  /** Stops the hub's timers. Engines are closed by whoever created them. */
  close(): void {
    this.closing = true;
    clearInterval(this.timer);
    this.rateSync?.close();
  }

  private sweep(): void {
    const now = Date.now();
    const refreshPresence = now - this.lastPresenceRefresh >= this.limits.presenceTtlMs / 3;
    if (refreshPresence) this.lastPresenceRefresh = now;
    for (const session of [...this.sessions.values()]) {
      if (session.state === SessionState.CONNECTING) {
        if (now - session.openedAt >= this.limits.connectTimeoutMs) session.disconnect(DisconnectCode.STALE, 'no connect command in time');
      } else if (session.expiresAt > 0 && now >= session.expiresAt) {
        session.disconnect(DisconnectCode.TOKEN_EXPIRED, 'token expired');
      }
    }
    if (refreshPresence) this.refreshPresence();
    if (now - this.lastPositionCheck >= this.limits.positionCheckIntervalMs && !this.checkingPositions) {
      this.lastPositionCheck = now;
      this.checkingPositions = true;
      this.checkPositions()
        .catch((error: unknown) => this.logger.warn({ err: error }, 'position check failed'))
        .finally(() => (this.checkingPositions = false));
    }
  }

  /** Re-adds this node's presence entries so they outlive their TTL while the clients stay. */
  private refreshPresence(): void {
    for (const [channel, subscribers] of this.channels) {
      const ns = this.namespaces.lookup(channel);
      if (ns === null || !ns.presence) continue;
      for (const session of subscribers) {
        const entry = session.presenceEntry(channel);
        if (entry === null) continue;
        this.presenceStore.add(channel, entry, this.limits.presenceTtlMs).catch((error: unknown) => {
          this.logger.warn({ err: error, channel }, 'presence refresh failed');
        });
      }
    }
  }
}

function noop(): void {}

/** Whether `delivered` (the newest publication delivered here, if any) is short of `target`. */
function isBehind(delivered: StreamPosition | undefined, target: StreamPosition): boolean {
  return delivered === undefined || delivered.epoch !== target.epoch || delivered.offset < target.offset;
}
