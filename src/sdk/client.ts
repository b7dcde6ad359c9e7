/**
 * The Volley client: one connection to a hub over the best transport that works, kept alive across network
 * failures. It reconnects with jittered backoff (honouring the hub's advice), resubscribes every channel
 * from its last position in the `connect` round trip, resends unacknowledged publishes with their
 * idempotency keys, refreshes an expiring token, falls back from WebSocket to SSE and long-polling and
 * comes back to WebSocket when it can.
 *
 * State lives in one place: {@link Volley.state} changes only in `#setState`, and every transport event is
 * checked against the transport it belongs to, so a late event of an old connection changes nothing.
 *
 * @module
 */

import type {
  ConnectResult,
  DisconnectPush,
  GapPush,
  JoinPush,
  LeavePush,
  PublicationPush,
  SubscribeResult,
  WirePosition,
  WirePublication,
} from '../hub/wire.js';
import { backoffDelay } from './backoff.js';
import { Channel, type ChannelHost } from './channel.js';
import { Emitter } from './emitter.js';
import { ClientErrorCode, fromWireError, VolleyError } from './errors.js';
import { checkChannel, checkIdempotencyKey, checkJson } from './names.js';
import { watchNetwork } from './network.js';
import { resolveOptions, type ResolvedOptions, type VolleyOptions } from './options.js';
import { shouldReconnect, tokenRefreshDelay } from './policy.js';
import { ServerSubscriptions } from './server-subscriptions.js';
import { PollingTransport } from './polling-transport.js';
import { Pipeline, type CommandBody, type RequestKind } from './requests.js';
import { SseTransport } from './sse-transport.js';
import type { ClientTransport, TransportHandlers, TransportKind } from './transport.js';
import { TransportSelector } from './transport-select.js';
import {
  ChannelState,
  ClientState,
  type ClientEvents,
  type HistoryOptions,
  type HistoryResult,
  type PresenceOptions,
  type PresenceResult,
  type Publication,
  type PublishAck,
  type PublishOptions,
} from './types.js';
import { endpoints, type Endpoints } from './urls.js';
import { WebSocketTransport } from './websocket-transport.js';

/** Most channels resumed in the `connect` command (the hub's limit); the rest subscribe one by one. */
const MAX_CONNECT_SUBSCRIPTIONS = 128;
/** A connection silent for `pingIntervalMs` plus this long is dead (protocol §12). */
const DEAD_MARGIN_MS = 10_000;
/** Retry delay after a failed token refresh, ms. */
const REFRESH_RETRY_MS = 5000;

/** What the hub told the client when a connection ended, or what the client decided itself. */
interface CloseAdvice {
  readonly code: number;
  readonly reason: string;
  readonly reconnect?: boolean;
  readonly reconnectAfterMs?: number;
}

type TimerName = 'open' | 'reconnect' | 'keepalive' | 'refresh' | 'upgrade';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPublication(value: unknown): value is WirePublication {
  return isObject(value) && typeof value['offset'] === 'number' && 'data' in value;
}

function isSubscribeResult(value: unknown): value is SubscribeResult {
  return isObject(value) && typeof value['epoch'] === 'string' && typeof value['offset'] === 'number';
}

function noop(): void {}

/**
 * A client of a Volley hub, for browsers and Node.
 *
 * @example Browser
 * ```ts
 * import { Volley } from '/volley-client.js';
 * const client = new Volley(location.origin, { getToken: () => fetch('/token').then((r) => r.text()) });
 * client.on('connected', ({ transport }) => console.log('connected over', transport));
 * client.connect();
 * ```
 *
 * @example Node 20
 * ```ts
 * import { WebSocket } from 'volley';
 * import { Volley } from 'volley/client';
 * const client = new Volley('http://localhost:8080', { WebSocket, token });
 * client.connect();
 * const room = client.channel<{ text: string }>('chat:lobby');
 * room.on('publication', ({ data }) => console.log(data.text));
 * await room.subscribe();
 * await room.publish({ text: 'hello' });
 * ```
 */
export class Volley extends Emitter<ClientEvents> {
  /** The hub's base URL (`http(s)://host:port[/prefix]`). */
  readonly url: string;
  readonly #o: ResolvedOptions;
  readonly #endpoints: Endpoints;
  readonly #pipeline: Pipeline;
  readonly #selector: TransportSelector;
  readonly #channels = new Map<string, Channel<any>>();
  readonly #serverSubs = new ServerSubscriptions(this);
  /** Channels with a subscribe command on its way, and the intent it was sent for. */
  readonly #pendingSubscribe = new Map<Channel<any>, number>();
  readonly #retryTimers = new Map<Channel<any>, unknown>();
  readonly #timers = new Map<TimerName, unknown>();
  readonly #host: ChannelHost;

  #state: ClientState = ClientState.DISCONNECTED;
  #transport: ClientTransport | null = null;
  /** A WebSocket being tried while connected over a fallback. */
  #probe: ClientTransport | null = null;
  #kind: TransportKind | null = null;
  #opened = false;
  #openedAt = 0;
  #lastMessageAt = 0;
  #advice: CloseAdvice | null = null;
  #round: TransportKind[] = [];
  #roundIndex = 0;
  #attempt = 0;
  /** Bumped when the client stops, so that async work started before (a token fetch) is dropped. */
  #generation = 0;
  #token: string | undefined;
  #tokenStale = false;
  #clientId = '';
  #userId = '';
  #expiresAt: number | undefined;
  #pingIntervalMs = 25_000;
  #readyWaiters: Array<{ resolve(): void; reject(error: VolleyError): void; timer: unknown }> = [];
  /** Stops watching the browser's online/offline events, while started. */
  #unwatchNetwork: (() => void) | null = null;

  /**
   * @param url the hub: `http(s)://host:port` (WebSocket goes to `ws(s)://host:port/ws`, SSE to `/sse`,
   * long-polling to `/poll`).
   * @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad URL or option; `VOLLEY_ERR_NO_TRANSPORT` when
   * no transport can run (in Node, pass `WebSocket`).
   */
  constructor(url: string | URL, options: VolleyOptions = {}) {
    super();
    this.#endpoints = endpoints(url);
    this.url = this.#endpoints.base;
    this.#o = resolveOptions(options);
    this.#token = this.#o.token;
    this.#pipeline = new Pipeline(this.#o.clock);
    this.#selector = new TransportSelector(this.#o.transports, this.#o.shortLivedMs);
    const state = (): ClientState => this.#state;
    this.#host = {
      get isConnected() {
        return state() === ClientState.CONNECTED;
      },
      subscribeNow: (channel) => this.#subscribeNow(channel),
      unsubscribeNow: (channel) => this.#unsubscribeNow(channel),
      publish: (channel, data, options) => this.publish(channel, data, options),
      presence: (channel, options) => this.presence(channel, options),
      history: (channel, options) => this.history(channel, options),
    };
  }

  /** `disconnected`, `connecting` (also while waiting to reconnect) or `connected`. */
  get state(): ClientState {
    return this.#state;
  }

  /** The transport in use (or being connected), or null when disconnected. */
  get transport(): TransportKind | null {
    return this.#kind;
  }

  /** This connection's id (changes with every reconnect); `''` before the first connect. */
  get clientId(): string {
    return this.#clientId;
  }

  /** The token's user id; `''` when anonymous or before the first connect. */
  get userId(): string {
    return this.#userId;
  }

  /** Publishes waiting for their ack (queued while disconnected, or in flight). */
  get outboxSize(): number {
    return this.#pipeline.pendingPublishes;
  }

  // ------------------------------------------------------------------------------------------ public API

  /** Starts connecting (and keeps reconnecting until {@link disconnect}). Does nothing when already started. */
  connect(): void {
    if (this.#state !== ClientState.DISCONNECTED) return;
    this.#generation++;
    this.#attempt = 0;
    this.#setState(ClientState.CONNECTING);
    this.#watchNetwork();
    const generation = this.#generation;
    this.emit('connecting', { reason: 'connect' });
    if (generation === this.#generation) this.#startRound();
  }

  /**
   * Closes the connection and stops reconnecting. Publishes still waiting in the outbox and commands
   * awaiting replies fail with `VOLLEY_ERR_DISCONNECTED`. Channels stay subscribed in intent: a later
   * {@link connect} resubscribes them, resuming from their positions.
   */
  disconnect(): void {
    const was = this.#state;
    this.#stop(1000, 'disconnect() called');
    if (was !== ClientState.DISCONNECTED) this.emit('disconnected', { code: 1000, reason: 'disconnect() called', reconnect: false });
  }

  /**
   * Resolves when connected; rejects with `VOLLEY_ERR_TIMEOUT` after `timeoutMs`, or `VOLLEY_ERR_DISCONNECTED`
   * when the client is not (or stops) trying.
   */
  ready(timeoutMs: number = this.#o.timeoutMs): Promise<void> {
    if (this.#state === ClientState.CONNECTED) return Promise.resolve();
    if (this.#state === ClientState.DISCONNECTED) {
      return Promise.reject(new VolleyError(ClientErrorCode.DISCONNECTED, 'the client is not connecting: call connect()'));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer: this.#o.clock.setTimeout(() => {
          this.#readyWaiters = this.#readyWaiters.filter((w) => w !== waiter);
          reject(new VolleyError(ClientErrorCode.TIMEOUT, `not connected within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#readyWaiters.push(waiter);
    });
  }

  /**
   * The channel named `name` (the same object for the same name), typed by its payload `T`.
   *
   * @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` when `name` is not a valid channel name.
   * @example
   * ```ts
   * const prices = client.channel<{ symbol: string; price: number }>('ticker:eurusd');
   * prices.on('publication', ({ data }) => update(data.symbol, data.price));
   * prices.subscribe();
   * ```
   */
  channel<T = unknown>(name: string): Channel<T> {
    checkChannel(name);
    let channel = this.#channels.get(name);
    if (channel === undefined) this.#channels.set(name, (channel = new Channel<T>(name, this.#host)));
    return channel as Channel<T>;
  }

  /** Unsubscribes `name` and forgets its Channel object (a later `channel(name)` makes a new one). */
  removeChannel(name: string): void {
    const channel = this.#channels.get(name);
    if (channel === undefined) return;
    void channel.unsubscribe();
    this.#channels.delete(name);
  }

  /**
   * Publishes `data` to `channel` (no subscription needed). Resolves with the hub's ack `{epoch, offset}`.
   * While the connection is down (connecting or waiting to reconnect) the publish waits in the outbox; after a reconnect it is sent again with the same
   * idempotency key, so it is published once. Rejects with the hub's code (`permission_denied`, …),
   * `VOLLEY_ERR_TIMEOUT` (no ack within `publishTimeoutMs` once sent: retry with `error.idempotencyKey`),
   * `VOLLEY_ERR_OUTBOX_FULL`, or `VOLLEY_ERR_DISCONNECTED` (the client is stopped: before `connect()`, after
   * `disconnect()` or after a disconnect code that forbids reconnecting).
   *
   * @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` (synchronously) for a bad channel, data or key.
   */
  publish<T = unknown>(channel: string, data: T, options: PublishOptions = {}): Promise<PublishAck> {
    checkChannel(channel);
    checkJson(data, 'data');
    if (options.idempotencyKey !== undefined) checkIdempotencyKey(options.idempotencyKey);
    const idempotencyKey = options.idempotencyKey ?? this.#o.idempotencyKey();
    if (this.#state === ClientState.DISCONNECTED) return Promise.reject(this.#notStarted(idempotencyKey));
    if (this.#pipeline.pendingPublishes >= this.#o.maxOutbox) {
      return Promise.reject(
        new VolleyError(ClientErrorCode.OUTBOX_FULL, `${this.#o.maxOutbox} publishes already await their ack`, { idempotencyKey }),
      );
    }
    return new Promise<PublishAck>((resolve, reject) => {
      this.#pipeline.request(
        'publish',
        { type: 'publish', channel, data, idempotencyKey },
        { timeoutMs: this.#o.publishTimeoutMs, idempotencyKey },
        (error, result) => {
          if (error !== null) return reject(error);
          const ack = isObject(result) ? result : {};
          resolve({ epoch: typeof ack['epoch'] === 'string' ? ack['epoch'] : '', offset: typeof ack['offset'] === 'number' ? ack['offset'] : 0 });
        },
      );
    });
  }

  /**
   * Calls the application's RPC handler `method` on the hub. Waits for a connection (within `timeoutMs`).
   *
   * @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` (synchronously) for a bad method name or data.
   * @example
   * ```ts
   * const order = await client.rpc<{ status: string }>('orders.get', { orderId: 17 });
   * ```
   */
  rpc<R = unknown>(method: string, data?: unknown): Promise<R> {
    checkChannel(method, 'method');
    if (data !== undefined) checkJson(data, 'data');
    return this.#call(data === undefined ? { type: 'rpc', method } : { type: 'rpc', method, data }).then(
      (result) => (isObject(result) ? result['data'] : undefined) as R,
    );
  }

  /** Who is in `channel` (namespaces with presence). */
  presence(channel: string, options: PresenceOptions = {}): Promise<PresenceResult> {
    checkChannel(channel);
    return this.#call(options.countsOnly === true ? { type: 'presence', channel, countsOnly: true } : { type: 'presence', channel }) as Promise<PresenceResult>;
  }

  /**
   * A page of `channel`'s history (namespaces with history).
   *
   * @example
   * ```ts
   * const { publications } = await client.history<{ text: string }>('chat:lobby', { limit: 50, reverse: true });
   * ```
   */
  history<T = unknown>(channel: string, options: HistoryOptions = {}): Promise<HistoryResult<T>> {
    checkChannel(channel);
    const body: { type: 'history'; channel: string; since?: number; limit?: number; reverse?: boolean } = { type: 'history', channel };
    if (options.since !== undefined) {
      if (!Number.isSafeInteger(options.since) || options.since < 0) throw new VolleyError(ClientErrorCode.INVALID_ARGUMENT, 'since must be an integer ≥ 0');
      body.since = options.since;
    }
    if (options.limit !== undefined) {
      if (!Number.isSafeInteger(options.limit) || options.limit < 0 || options.limit > 1000) {
        throw new VolleyError(ClientErrorCode.INVALID_ARGUMENT, 'limit must be an integer from 0 to 1000');
      }
      body.limit = options.limit;
    }
    if (options.reverse !== undefined) body.reverse = options.reverse === true;
    return this.#call(body).then((result) => {
      const page = isObject(result) ? result : {};
      const publications = (Array.isArray(page['publications']) ? page['publications'] : []).filter(isPublication).map(
        (p): Publication<T> =>
          p.info === undefined
            ? { channel, data: p.data as T, offset: p.offset, time: p.time }
            : { channel, data: p.data as T, offset: p.offset, info: p.info, time: p.time },
      );
      return { epoch: typeof page['epoch'] === 'string' ? page['epoch'] : '', offset: typeof page['offset'] === 'number' ? page['offset'] : 0, publications };
    });
  }

  /** Measures a round trip to the hub, in ms. */
  ping(): Promise<number> {
    const start = this.#o.clock.now();
    return this.#call({ type: 'ping' }).then(() => this.#o.clock.now() - start);
  }

  // ------------------------------------------------------------------------------------------- lifecycle

  #setState(state: ClientState): void {
    const previous = this.#state;
    if (state === previous) return;
    this.#state = state;
    if (state === ClientState.CONNECTED) {
      const waiters = this.#readyWaiters;
      this.#readyWaiters = [];
      for (const waiter of waiters) {
        this.#o.clock.clearTimeout(waiter.timer);
        waiter.resolve();
      }
    }
    this.emit('state', { state, previous, transport: this.#kind });
  }

  #setTimer(name: TimerName, ms: number, fn: () => void): void {
    this.#clearTimer(name);
    this.#timers.set(
      name,
      this.#o.clock.setTimeout(() => {
        this.#timers.delete(name);
        fn();
      }, ms),
    );
  }

  #clearTimer(name: TimerName): void {
    const timer = this.#timers.get(name);
    if (timer === undefined) return;
    this.#timers.delete(name);
    this.#o.clock.clearTimeout(timer);
  }

  #startRound(): void {
    this.#round = this.#selector.round();
    this.#roundIndex = 0;
    void this.#openNext();
  }

  async #openNext(): Promise<void> {
    const generation = this.#generation;
    if (this.#o.getToken !== undefined && (this.#token === undefined || this.#tokenStale)) {
      try {
        await this.#fetchToken();
      } catch (error) {
        if (generation !== this.#generation) return;
        const failure = error as VolleyError;
        this.emit('error', { error: failure });
        if (generation !== this.#generation) return;
        if (failure.code === 'unauthorized') {
          this.#stop(4500, failure.message);
          this.emit('disconnected', { code: 4500, reason: failure.message, reconnect: false });
        } else {
          this.#scheduleReconnect(0);
        }
        return;
      }
      if (generation !== this.#generation || this.#transport !== null) return;
    }
    this.#opened = false;
    this.#advice = null;
    const transport = this.#createTransport(this.#round[this.#roundIndex]!);
    this.#transport = transport;
    // A transport that hangs while opening (a black-holed address) counts as one that cannot open.
    this.#setTimer('open', this.#o.timeoutMs, () => {
      if (transport !== this.#transport || this.#opened) return;
      transport.close();
      this.#onTransportClose(transport, 1006, 'the transport did not open in time');
    });
  }

  async #fetchToken(): Promise<string> {
    let token: unknown;
    try {
      token = await this.#o.getToken!();
    } catch (error) {
      if (error instanceof VolleyError) throw error;
      throw new VolleyError(ClientErrorCode.TOKEN, `getToken failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (typeof token !== 'string' || !/^[\x21-\x7e]{1,16384}$/.test(token)) {
      throw new VolleyError(ClientErrorCode.TOKEN, 'getToken must return a token of 1 to 16384 printable ASCII characters');
    }
    this.#token = token;
    this.#tokenStale = false;
    return token;
  }

  #createTransport(kind: TransportKind): ClientTransport {
    let transport: ClientTransport | null = null;
    const handlers: TransportHandlers = {
      open: () => this.#onTransportOpen(transport!),
      message: (message) => {
        if (transport === this.#transport) this.#onMessage(message);
      },
      close: (code, reason) => this.#onTransportClose(transport!, code, reason),
    };
    const o = this.#o;
    switch (kind) {
      case 'websocket':
        transport = new WebSocketTransport(this.#endpoints.websocket, o.WebSocket!, handlers);
        break;
      case 'sse':
        transport = new SseTransport(this.#endpoints.sse, o.fetch!, o.EventSource, handlers);
        break;
      case 'polling':
        transport = new PollingTransport(this.#endpoints.poll, o.fetch!, o.clock, handlers);
        break;
    }
    return transport;
  }

  #onTransportOpen(transport: ClientTransport): void {
    if (transport === this.#probe) return this.#onProbeOpen(transport);
    if (transport !== this.#transport) return transport.close();
    this.#clearTimer('open');
    this.#opened = true;
    this.#openedAt = this.#lastMessageAt = this.#o.clock.now();
    if (this.#kind !== transport.kind) {
      const previous = this.#kind;
      this.#kind = transport.kind;
      this.emit('transport', { transport: transport.kind, previous });
      if (transport !== this.#transport) return;
    }
    this.#pipeline.attach((commands) => transport.send(commands));
    this.#sendConnect(transport);
  }

  #sendConnect(transport: ClientTransport): void {
    const subscriptions: Record<string, { recover?: WirePosition }> = {};
    const included = new Map<Channel<any>, number>();
    for (const channel of this.#channels.values()) {
      if (channel.state === ChannelState.UNSUBSCRIBED || channel.needsOwnCommand || included.size >= MAX_CONNECT_SUBSCRIPTIONS) continue;
      const { recover } = channel.subscribeFields();
      subscriptions[channel.name] = recover === undefined ? {} : { recover };
      included.set(channel, channel.intent);
    }
    const o = this.#o;
    const body: CommandBody = {
      type: 'connect',
      ...(this.#token !== undefined ? { token: this.#token } : {}),
      name: o.name,
      version: o.version,
      ...(included.size > 0 ? { subscriptions } : {}),
    };
    this.#pipeline.request('handshake', body, { timeoutMs: o.timeoutMs }, (error, result) => {
      if (transport !== this.#transport) return;
      if (error !== null) this.#onConnectFailed(error);
      else this.#onConnected(transport, result, included);
    });
  }

  #onConnectFailed(error: VolleyError): void {
    switch (error.code) {
      case ClientErrorCode.CONNECTION_CLOSED:
        return; // the transport's close does the rest
      case ClientErrorCode.TIMEOUT:
        return this.#abandon({ code: 1006, reason: 'no reply to connect' });
      case 'bad_request':
        return this.#abandon({ code: 4501, reason: error.message, reconnect: false });
      case 'unauthorized':
        return this.#abandon({ code: 4500, reason: error.message, reconnect: false });
      case 'permission_denied':
        return this.#abandon({ code: 4502, reason: error.message, reconnect: false });
      case 'token_expired':
        return this.#abandon({ code: 4002, reason: error.message });
      default:
        // unavailable, timeout, internal, rate_limited: come back later.
        return this.#abandon({ code: 1013, reason: error.message, ...(error.retryAfterMs !== undefined ? { reconnectAfterMs: error.retryAfterMs } : {}) });
    }
  }

  #onConnected(transport: ClientTransport, value: unknown, included: Map<Channel<any>, number>): void {
    if (!isObject(value) || typeof value['clientId'] !== 'string') return this.#protocolError('the connect result is malformed');
    const result = value as unknown as ConnectResult;
    this.#clientId = result.clientId;
    this.#userId = typeof result.userId === 'string' ? result.userId : '';
    this.#expiresAt = typeof result.expiresAt === 'number' ? result.expiresAt : undefined;
    this.#pingIntervalMs = typeof result.pingIntervalMs === 'number' && result.pingIntervalMs > 0 ? result.pingIntervalMs : 25_000;
    this.#attempt = 0;
    this.#selector.connected(transport.kind);
    this.#setState(ClientState.CONNECTED);
    this.emit('connected', {
      clientId: this.#clientId,
      userId: this.#userId,
      transport: transport.kind,
      ...(this.#expiresAt !== undefined ? { expiresAt: this.#expiresAt } : {}),
    });
    if (transport !== this.#transport) return;

    const results = isObject(result.subscriptions) ? (result.subscriptions as Record<string, unknown>) : {};
    for (const [channel, intent] of included) {
      const entry = results[channel.name];
      if (channel.intent !== intent) {
        // Unsubscribed while the connect was on its way: the hub holds a subscription nobody wants.
        if (isSubscribeResult(entry)) this.#sendUnsubscribe(channel.name);
        continue;
      }
      if (isObject(entry) && 'error' in entry) this.#subscribeFailed(channel, fromWireError(entry['error']), intent);
      else if (isSubscribeResult(entry)) channel.subscribed(entry);
      if (transport !== this.#transport) return;
    }
    // Channels not resumed in the connect (presence data, over the limit, subscribed meanwhile): one by one.
    for (const channel of this.#channels.values()) {
      if (channel.state === ChannelState.SUBSCRIBING && !this.#retryTimers.has(channel)) this.#subscribeNow(channel);
    }
    this.#pipeline.open();
    this.#startKeepalive();
    this.#scheduleRefresh();
    this.#scheduleUpgrade();
  }

  /** Ends the current connection from this side, then handles it as closed with `advice`. */
  #abandon(advice: CloseAdvice): void {
    const transport = this.#transport;
    if (transport === null) return;
    this.#advice = advice;
    transport.close();
    this.#onTransportClose(transport, advice.code, advice.reason);
  }

  #protocolError(reason: string): void {
    const generation = this.#generation;
    this.emit('error', { error: new VolleyError(ClientErrorCode.PROTOCOL, reason) });
    if (generation === this.#generation) this.#abandon({ code: 1006, reason });
  }

  #onTransportClose(transport: ClientTransport, code: number, reason: string): void {
    if (transport === this.#probe) {
      this.#probe = null;
      this.#scheduleUpgrade();
      return;
    }
    if (transport !== this.#transport) return;
    this.#clearTimer('open');
    const opened = this.#opened;
    this.#transport = null;
    this.#opened = false;
    this.#connectionEnded();
    if (!opened) {
      // This transport could not open: the next one in the round, at once; after the last, back off.
      this.#roundIndex++;
      if (this.#roundIndex < this.#round.length) void this.#openNext();
      else this.#scheduleReconnect(0);
      return;
    }
    const advice = this.#advice;
    this.#advice = null;
    const finalCode = advice?.code ?? code;
    const finalReason = advice?.reason ?? reason;
    const explained = advice !== null || (finalCode >= 4000 && finalCode <= 4999) || finalCode === 1001 || finalCode === 1012 || finalCode === 1013;
    this.#selector.closed(transport.kind, this.#o.clock.now() - this.#openedAt, explained);
    let reconnect = shouldReconnect(finalCode, advice?.reconnect);
    if (finalCode === 4002) {
      // The token expired: only a new one helps.
      if (this.#o.getToken !== undefined) this.#tokenStale = true;
      else reconnect = false;
    }
    if (!reconnect) {
      this.#stop(finalCode, finalReason);
      this.emit('disconnected', { code: finalCode, reason: finalReason, reconnect: false });
      return;
    }
    const generation = this.#generation;
    this.#setState(ClientState.CONNECTING);
    this.emit('disconnected', { code: finalCode, reason: finalReason, reconnect: true });
    if (generation === this.#generation && this.#transport === null) this.#scheduleReconnect(advice?.reconnectAfterMs ?? 0);
  }

  /** Everything tied to one connection ends with it. */
  #connectionEnded(): void {
    this.#clearTimer('keepalive');
    this.#clearTimer('refresh');
    this.#clearTimer('upgrade');
    const probe = this.#probe;
    this.#probe = null;
    probe?.close();
    for (const timer of this.#retryTimers.values()) this.#o.clock.clearTimeout(timer);
    this.#retryTimers.clear();
    this.#pendingSubscribe.clear();
    this.#serverSubs.clear();
    this.#pipeline.detach();
    for (const channel of this.#channels.values()) channel.connectionLost();
  }

  #scheduleReconnect(minDelayMs: number): void {
    const delayMs = Math.max(backoffDelay(this.#attempt, this.#o.reconnect, this.#o.random), minDelayMs);
    this.#attempt++;
    this.#setState(ClientState.CONNECTING);
    const generation = this.#generation;
    this.emit('reconnecting', { delayMs, attempt: this.#attempt });
    if (generation !== this.#generation) return;
    this.#setTimer('reconnect', delayMs, () => {
      this.emit('connecting', { reason: 'reconnect' });
      if (generation === this.#generation && this.#transport === null) this.#startRound();
    });
  }

  /** Stops for good (until `connect()`): no transport, no timers, every pending request failed. */
  #stop(code: number, reason: string): void {
    this.#generation++;
    for (const name of [...this.#timers.keys()]) this.#clearTimer(name);
    const transport = this.#transport;
    this.#transport = null;
    this.#opened = false;
    transport?.close();
    this.#connectionEnded();
    this.#pipeline.failAll(new VolleyError(ClientErrorCode.DISCONNECTED, `the client stopped: ${reason}`, { closeCode: code }));
    this.#kind = null;
    this.#unwatchNetwork?.();
    this.#unwatchNetwork = null;
    this.#setState(ClientState.DISCONNECTED);
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) {
      this.#o.clock.clearTimeout(waiter.timer);
      waiter.reject(new VolleyError(ClientErrorCode.DISCONNECTED, `the client stopped: ${reason}`, { closeCode: code }));
    }
  }

  // -------------------------------------------------------------------------------------------- messages

  #onMessage(message: unknown): void {
    this.#lastMessageAt = this.#o.clock.now();
    if (!isObject(message)) return this.#protocolError('the server sent a message that is not an object');
    if ('id' in message) {
      this.#pipeline.reply(message as { id: unknown; result?: unknown; error?: unknown });
      return;
    }
    if (typeof message['type'] !== 'string') return this.#protocolError('the server sent a message without id or type');
    this.#onPush(message);
  }

  #onPush(push: Record<string, unknown>): void {
    const name = typeof push['channel'] === 'string' ? push['channel'] : '';
    const channel = this.#channels.get(name);
    const active = channel !== undefined && channel.state !== ChannelState.UNSUBSCRIBED ? channel : undefined;
    switch (push['type']) {
      case 'publication':
        if (!isPublication(push)) return;
        if (active !== undefined) active.publication(push as unknown as PublicationPush);
        else this.#serverSubs.publication(name, push);
        return;
      case 'gap': {
        if (typeof push['fromOffset'] !== 'number' || typeof push['toOffset'] !== 'number') return;
        const gap = push as unknown as GapPush;
        if (active !== undefined) active.gap(gap);
        else this.#serverSubs.gap(name, gap);
        return;
      }
      case 'join':
      case 'leave':
        if (isObject(push['info'])) active?.presenceEvent(push as unknown as JoinPush | LeavePush);
        return;
      case 'rate_limited': {
        const retryAfterMs = typeof push['retryAfterMs'] === 'number' && push['retryAfterMs'] >= 0 ? push['retryAfterMs'] : 1000;
        this.#pipeline.pause(retryAfterMs);
        this.emit('rate_limited', { retryAfterMs });
        return;
      }
      case 'disconnect': {
        const d = push as unknown as Partial<DisconnectPush>;
        const code = typeof d.code === 'number' ? d.code : 1006;
        this.#abandon({
          code,
          reason: typeof d.reason === 'string' ? d.reason : '',
          ...(typeof d.reconnect === 'boolean' ? { reconnect: d.reconnect } : {}),
          ...(typeof d.reconnectAfterMs === 'number' && d.reconnectAfterMs > 0 ? { reconnectAfterMs: d.reconnectAfterMs } : {}),
        });
        return;
      }
      case 'unsubscribed': {
        const reason = typeof push['reason'] === 'string' ? push['reason'] : 'unsubscribed by the server';
        if (active !== undefined) {
          this.#pendingSubscribe.delete(active);
          return active.serverUnsubscribed(reason);
        }
        return this.#serverSubs.unsubscribed(name, reason);
      }
      case 'subscribed': {
        if (typeof push['epoch'] !== 'string' || typeof push['offset'] !== 'number') return;
        const { epoch, offset } = push as { epoch: string; offset: number };
        this.#serverSubs.subscribed(name, epoch, offset, active === undefined);
        if (active?.state === ChannelState.SUBSCRIBING) active.subscribed({ epoch, offset, recovered: false, publications: [] });
        return;
      }
      default:
        return; // unknown push types are ignored (protocol §14)
    }
  }

  // ------------------------------------------------------------------------------------------- commands

  #notStarted(idempotencyKey?: string): VolleyError {
    return new VolleyError(ClientErrorCode.DISCONNECTED, 'the client is disconnected: call connect() first', {
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    });
  }

  #call(body: CommandBody, kind: RequestKind = 'call'): Promise<unknown> {
    if (this.#state === ClientState.DISCONNECTED) return Promise.reject(this.#notStarted());
    return new Promise((resolve, reject) => {
      this.#pipeline.request(kind, body, { timeoutMs: this.#o.timeoutMs }, (error, result) => (error === null ? resolve(result) : reject(error)));
    });
  }

  #subscribeNow(channel: Channel<any>): void {
    const transport = this.#transport;
    if (this.#state !== ClientState.CONNECTED || transport === null) return;
    const intent = channel.intent;
    if (this.#pendingSubscribe.get(channel) === intent) return;
    this.#pendingSubscribe.set(channel, intent);
    const fields = channel.subscribeFields();
    this.#pipeline.request('subscription', { type: 'subscribe', channel: channel.name, ...fields }, { timeoutMs: this.#o.timeoutMs }, (error, result) => {
      if (this.#pendingSubscribe.get(channel) === intent) this.#pendingSubscribe.delete(channel);
      if (transport !== this.#transport || channel.intent !== intent) return;
      if (error !== null) return this.#subscribeFailed(channel, error, intent);
      if (!isSubscribeResult(result)) return this.#protocolError('a subscribe result is malformed');
      channel.subscribed(result);
    });
  }

  #subscribeFailed(channel: Channel<any>, error: VolleyError, intent: number): void {
    switch (error.code) {
      case ClientErrorCode.CONNECTION_CLOSED:
        return; // resubscribed with the next connection
      case ClientErrorCode.TIMEOUT:
        // The hub may yet subscribe: only a fresh connection makes the state certain again.
        return this.#abandon({ code: 1006, reason: `no reply to subscribe ${channel.name}` });
      case 'already_subscribed': {
        const position = this.#serverSubs.position(channel.name);
        if (position !== undefined) return channel.subscribed({ ...position, recovered: false, publications: [] });
        this.#sendUnsubscribe(channel.name);
        this.#subscribeNow(channel);
        return;
      }
      case 'unavailable':
      case 'internal':
      case 'timeout':
      case 'rate_limited': {
        channel.failed(error, false);
        const delay = backoffDelay(channel.retries++, this.#o.reconnect, this.#o.random);
        this.#retryTimers.set(
          channel,
          this.#o.clock.setTimeout(() => {
            this.#retryTimers.delete(channel);
            if (this.#state !== ClientState.CONNECTED || channel.intent !== intent || channel.state !== ChannelState.SUBSCRIBING) return;
            channel.retrying();
            this.#subscribeNow(channel);
          }, delay),
        );
        return;
      }
      default:
        return channel.failed(error, true);
    }
  }

  #unsubscribeNow(name: string): void {
    const channel = this.#channels.get(name);
    if (channel !== undefined) {
      this.#pendingSubscribe.delete(channel);
      const timer = this.#retryTimers.get(channel);
      if (timer !== undefined) {
        this.#o.clock.clearTimeout(timer);
        this.#retryTimers.delete(channel);
      }
    }
    this.#sendUnsubscribe(name);
  }

  #sendUnsubscribe(name: string): void {
    this.#pipeline.request('subscription', { type: 'unsubscribe', channel: name }, { timeoutMs: this.#o.timeoutMs }, noop);
  }

  /**
   * In a browser: going offline drops the connection at once (a dead socket may take long to notice), and
   * coming back online skips the rest of the reconnect delay.
   */
  #watchNetwork(): void {
    if (this.#unwatchNetwork !== null) return;
    this.#unwatchNetwork = watchNetwork({
      offline: () => {
        if (this.#transport !== null) this.#abandon({ code: 1006, reason: 'the browser went offline' });
      },
      online: () => {
        if (this.#state !== ClientState.CONNECTING || !this.#timers.has('reconnect')) return;
        this.#clearTimer('reconnect');
        this.emit('connecting', { reason: 'reconnect' });
        if (this.#state === ClientState.CONNECTING && this.#transport === null) this.#startRound();
      },
    });
  }

  // ---------------------------------------------------------------------------- keepalive, token, upgrade

  /**
   * Keepalive (protocol §12): on a fallback transport, a `ping` every 80 % of `pingIntervalMs` (the hub
   * requires one per interval); on WebSocket, a `ping` only after that long without any message (a browser
   * cannot see the hub's ping frames). No message for `pingIntervalMs` + 10 s: the connection is dead.
   */
  #startKeepalive(): void {
    const interval = this.#pingIntervalMs;
    const every = Math.max(50, Math.floor(interval * 0.8));
    const tick = (): void => {
      if (this.#state !== ClientState.CONNECTED) return;
      const idle = this.#o.clock.now() - this.#lastMessageAt;
      if (idle > interval + DEAD_MARGIN_MS) return this.#abandon({ code: 1006, reason: 'no message from the server in time' });
      if (this.#kind !== 'websocket' || idle >= every) {
        this.#pipeline.request('control', { type: 'ping' }, { timeoutMs: this.#o.timeoutMs }, noop);
      }
      this.#setTimer('keepalive', every, tick);
    };
    this.#setTimer('keepalive', every, tick);
  }

  #scheduleRefresh(): void {
    if (this.#o.getToken === undefined || this.#expiresAt === undefined) return;
    this.#setTimer('refresh', tokenRefreshDelay(this.#expiresAt - this.#o.clock.now()), () => void this.#refresh());
  }

  async #refresh(): Promise<void> {
    const transport = this.#transport;
    const generation = this.#generation;
    let token: string;
    try {
      token = await this.#fetchToken();
    } catch (error) {
      if (generation !== this.#generation || transport !== this.#transport) return;
      this.emit('error', { error: error as VolleyError });
      if (transport === this.#transport) this.#setTimer('refresh', REFRESH_RETRY_MS, () => void this.#refresh());
      return;
    }
    // After a reconnect, the new connection already used the new token.
    if (transport !== this.#transport || this.#state !== ClientState.CONNECTED) return;
    this.#pipeline.request('control', { type: 'refresh', token }, { timeoutMs: this.#o.timeoutMs }, (error, result) => {
      if (transport !== this.#transport) return;
      if (error !== null) {
        if (error.code === ClientErrorCode.CONNECTION_CLOSED) return;
        this.emit('error', { error });
        // permission_denied (another user's token) will not improve: the hub ends the connection at expiry
        // (4002), and the reconnect fetches a token again.
        if (error.code !== 'permission_denied' && transport === this.#transport) this.#setTimer('refresh', REFRESH_RETRY_MS, () => void this.#refresh());
        return;
      }
      const expiresAt = isObject(result) && typeof result['expiresAt'] === 'number' ? result['expiresAt'] : undefined;
      this.#expiresAt = expiresAt;
      this.#scheduleRefresh();
    });
  }

  /** On a fallback, try WebSocket again every `upgradeIntervalMs`. */
  #scheduleUpgrade(): void {
    const o = this.#o;
    if (o.upgradeIntervalMs === 0 || o.transports[0] !== 'websocket') return;
    if (this.#state !== ClientState.CONNECTED || this.#kind === 'websocket' || this.#probe !== null) return;
    this.#setTimer('upgrade', o.upgradeIntervalMs, () => {
      if (this.#state !== ClientState.CONNECTED || this.#kind === 'websocket' || this.#probe !== null) return;
      // Switching ends calls in flight: wait for a quiet moment.
      if (this.#pipeline.inFlight('call') > 0) return this.#setTimer('upgrade', 1000, () => this.#scheduleUpgradeNow());
      this.#scheduleUpgradeNow();
    });
  }

  #scheduleUpgradeNow(): void {
    if (this.#state !== ClientState.CONNECTED || this.#kind === 'websocket' || this.#probe !== null) return;
    const probe = this.#createTransport('websocket');
    this.#probe = probe;
    this.#setTimer('upgrade', this.#o.timeoutMs, () => {
      if (this.#probe !== probe) return;
      this.#probe = null;
      probe.close();
      this.#scheduleUpgrade();
    });
  }

  /** The WebSocket probe opened: move the session onto it (a reconnect with recovery, without the wait). */
  #onProbeOpen(probe: ClientTransport): void {
    this.#probe = null;
    const current = this.#transport;
    if (this.#state !== ClientState.CONNECTED || current === null) return probe.close();
    this.#transport = null;
    current.close();
    this.#connectionEnded();
    this.#setState(ClientState.CONNECTING);
    const generation = this.#generation;
    this.emit('connecting', { reason: 'upgrade' });
    if (generation !== this.#generation || this.#transport !== null) return probe.close();
    this.#transport = probe;
    this.#advice = null;
    this.#onTransportOpen(probe);
  }
}
