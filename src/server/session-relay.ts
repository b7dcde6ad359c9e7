/**
 * {@link RedisSessionRelay}: HTTP fallback requests reach the node holding their session over Redis Pub/Sub, so
 * several nodes behind a load balancer need no sticky sessions (docs/scaling.md, "HTTP fallbacks").
 *
 * Every node subscribes to one Pub/Sub channel of its own, `<prefix>relay:<nodeId>` (a hub channel is always
 * `<prefix>{…}`, so the two never meet). A node that gets `GET /poll` or `POST …/send` for a sid naming another
 * node publishes the request there and waits for the answer on its own channel:
 *
 * ```
 * → {"t":"q","r":17,"f":"n2","x":"polling","o":"poll","s":"<sid>"}            request 17 from node n2
 * ← {"t":"a","r":17,"f":"n1","c":200,"m":["{\"type\":\"publication\",…}"]}     the answer (status, messages)
 * → {"t":"g","r":17,"f":"n2"}                                                 abandoned: the client went away
 * ```
 *
 * Failure rules, all ending in an answer the SDK acts on (404: open a new session and recover; 503: the same):
 *
 * - `PUBLISH` reports no receiver: the holding node is gone (its Pub/Sub connection closed when it died) → 404.
 *   On a Redis Cluster without sharded Pub/Sub the receiver count is per cluster node, so it is not trusted.
 * - Redis unreachable, or this node's own Pub/Sub connection lost while waiting (the answer may be lost) → 503.
 * - No answer within the request's own wait (`waitMs`, a poll's timeout) plus `timeoutMs` → 503, and the holding
 *   node is told to stop waiting.
 * - An answer that cannot be delivered (the requesting node is gone, or its client is) is reported back as
 *   abandoned, so a poll's messages are put back for the session's next poll, as on a single node.
 *
 * Sids and command bodies cross Redis: Redis is part of the trusted infrastructure, as it is for history.
 *
 * @module
 */

import type { Cluster } from 'ioredis';
import type { RedisClient, RedisClients } from '../engines/redis/connection.js';
import type { HubLogger } from '../hub/hub.js';
import {
  NODE_ID_PATTERN,
  type RelayAnswer,
  type RelayCall,
  type RelayExchange,
  type RelayRequest,
  type RelayTransport,
  type SessionRelay,
} from '../transports/http-session.js';

/** Options of {@link RedisSessionRelay}. */
export interface RedisSessionRelayOptions {
  /** Connections of the relay's own (its Pub/Sub connection is not shared with the broker). Closed by the owner. */
  readonly clients: RedisClients;
  /** This node's id. */
  readonly nodeId: string;
  /** The hub's key prefix (nodes relay only within one prefix). */
  readonly prefix: string;
  /** `SPUBLISH`/`SSUBSCRIBE` (Redis Cluster). @default false */
  readonly sharded?: boolean;
  /** Margin beyond a request's own wait before it is answered 503, in ms. @default 5000 */
  readonly timeoutMs?: number;
  readonly logger: HubLogger;
  /** Counts relayed requests: `direction` out (sent) or in (served), with the answer's status. */
  readonly onRequest?: (direction: 'out' | 'in', op: string, status: number) => void;
}

/** A request sent and not yet answered. */
interface PendingCall {
  readonly rid: number;
  readonly owner: string;
  readonly op: string;
  readonly resolve: (answer: RelayAnswer) => void;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
}

/** A request served, kept until its answer is known to be delivered or abandoned (or it ages out). */
class ServedExchange implements RelayExchange {
  answeredAt = 0;
  #listener: ((answered: boolean) => void) | undefined;
  #done = false;

  constructor(
    readonly request: RelayRequest,
    private readonly send: (answer: RelayAnswer) => void,
  ) {}

  get answered(): boolean {
    return this.answeredAt > 0;
  }

  respond(answer: RelayAnswer): void {
    if (this.answered || this.#done) return;
    this.answeredAt = Date.now();
    this.send(answer);
  }

  onAbandon(listener: (answered: boolean) => void): void {
    this.#listener = listener;
  }

  /** The requester gave up (or the answer could not be delivered); tells the listener once. */
  abandon(): void {
    if (this.#done) return;
    this.#done = true;
    this.#listener?.(this.answered);
  }
}

const State = { CREATED: 'created', STARTED: 'started', CLOSED: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Served polls are forgotten this long after their answer: a requesting node reports a lost answer within
 * moments, and a later report would change nothing (the session's next poll has been answered since).
 */
const ANSWERED_TTL_MS = 10_000;

/** The Redis implementation of {@link SessionRelay}. See the module description. */
export class RedisSessionRelay implements SessionRelay {
  readonly nodeId: string;
  #state: State = State.CREATED;
  readonly #command: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #prefix: string;
  readonly #sharded: boolean;
  readonly #timeoutMs: number;
  readonly #logger: HubLogger;
  readonly #onRequest: (direction: 'out' | 'in', op: string, status: number) => void;
  /** Whether `PUBLISH`'s receiver count tells whether the node is there. */
  readonly #countsReceivers: boolean;
  readonly #handlers = new Map<RelayTransport, (exchange: RelayExchange) => void>();
  readonly #calls = new Map<number, PendingCall>();
  readonly #served = new Map<string, ServedExchange>();
  #nextRid = 0;
  /** Whether this node's channel is subscribed now (answers can arrive). */
  #listening = false;
  readonly #sweeper: NodeJS.Timeout;
  readonly #listeners: Array<[string, (...args: any[]) => void]> = [];

  constructor(options: RedisSessionRelayOptions) {
    if (!NODE_ID_PATTERN.test(options.nodeId)) throw new TypeError('nodeId must be 1-32 of A-Z a-z 0-9 _ -');
    this.nodeId = options.nodeId;
    this.#command = options.clients.command;
    this.#sharded = options.sharded === true;
    this.#subscriber = options.clients.subscriber(this.#sharded);
    this.#prefix = options.prefix;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#logger = options.logger;
    this.#onRequest = options.onRequest ?? (() => {});
    this.#countsReceivers = this.#command.mode !== 'cluster' || this.#sharded;
    const redis = this.#subscriber.redis;
    this.#listen(redis, this.#sharded ? 'smessage' : 'message', (channel: string, message: string) => {
      if (channel === this.#channelOf(this.nodeId)) this.#receive(message);
    });
    this.#listen(redis, 'close', () => this.#lost());
    this.#listen(redis, 'ready', () => {
      if (this.#state === State.STARTED) void this.#subscribe();
    });
    this.#sweeper = setInterval(() => this.#sweep(), 5000);
    this.#sweeper.unref();
  }

  /** Whether answers can reach this node now. */
  get listening(): boolean {
    return this.#listening;
  }

  /**
   * Checks that no other node of this hub uses this node id (when Redis answers), then subscribes to this node's
   * channel (now, or as soon as Redis is reachable).
   *
   * @throws Error when another node with this id is listening.
   */
  async start(): Promise<void> {
    if (this.#state !== State.CREATED) throw new Error(`the relay is ${this.#state}`);
    let others: number | undefined;
    try {
      others = await this.#countListeners(this.#channelOf(this.nodeId));
    } catch (error) {
      this.#logger.warn({ err: error }, 'Redis unreachable at start: the node id is not checked; the relay starts when Redis answers');
    }
    if (others !== undefined && others > 0) {
      throw new Error(`node id "${this.nodeId}" is already used by another node of this hub (Redis prefix "${this.#prefix}"): give each node its own --node-id`);
    }
    this.#state = State.STARTED;
    if (this.#subscriber.ready) await this.#subscribe();
  }

  /**
   * How many connections listen on `channel`. `PUBSUB (SHARD)NUMSUB` has no key, so on a cluster it goes to one
   * node, which counts only its own listeners: ask every master and add up.
   */
  async #countListeners(channel: string): Promise<number> {
    const args = [this.#sharded ? 'SHARDNUMSUB' : 'NUMSUB', channel];
    const count = (reply: unknown) => Number((reply as [string, number])[1]);
    if (this.#command.mode !== 'cluster') return count(await this.#command.call('check the node id', 'PUBSUB', args));
    await this.#command.whenReady('check the node id');
    const masters = (this.#command.redis as Cluster).nodes('master');
    const replies = await Promise.all(masters.map((node) => node.call('PUBSUB', ...args)));
    return replies.reduce<number>((sum, reply) => sum + count(reply), 0);
  }

  serve(transport: RelayTransport, handler: (exchange: RelayExchange) => void): void {
    this.#handlers.set(transport, handler);
  }

  forward(owner: string, request: RelayRequest, options: { readonly waitMs?: number } = {}): RelayCall {
    const rid = ++this.#nextRid;
    let resolve!: (answer: RelayAnswer) => void;
    const answer = new Promise<RelayAnswer>((r) => (resolve = r));
    const call: PendingCall = { rid, owner, op: request.op, resolve, timer: undefined, settled: false };
    const abandon = (): void => {
      this.#settle(call, { status: 503 });
      this.#send(owner, { t: 'g', r: rid, f: this.nodeId });
    };
    if (this.#state !== State.STARTED || !this.#listening || !NODE_ID_PATTERN.test(owner)) {
      // Without our own channel the answer could not arrive.
      this.#settle(call, { status: this.#state === State.STARTED && this.#listening ? 404 : 503 });
      return { answer, abandon() {} };
    }
    this.#calls.set(rid, call);
    call.timer = setTimeout(() => {
      this.#logger.warn({ owner, op: request.op }, 'relayed request not answered in time');
      abandon();
    }, (options.waitMs ?? 0) + this.#timeoutMs);
    call.timer.unref();
    const message = { t: 'q', r: rid, f: this.nodeId, x: request.transport, o: request.op, s: request.sid, ...(request.frames !== undefined ? { m: request.frames } : {}) };
    this.#publish(owner, message).then(
      (receivers) => {
        // Nobody listens on the owner's channel: the node is gone, and its sessions with it.
        if (receivers === 0 && this.#countsReceivers) this.#settle(call, { status: 404 });
      },
      (error: unknown) => {
        this.#logger.warn({ err: error, owner }, 'cannot relay a request: Redis unreachable');
        this.#settle(call, { status: 503 });
      },
    );
    return { answer, abandon };
  }

  /** Stops listening and answers every pending request 503. Does not close the connections. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === State.CLOSED) return;
    const wasListening = this.#listening;
    this.#state = State.CLOSED;
    this.#listening = false;
    clearInterval(this.#sweeper);
    for (const call of [...this.#calls.values()]) this.#settle(call, { status: 503 });
    for (const exchange of this.#served.values()) exchange.abandon();
    this.#served.clear();
    for (const [event, listener] of this.#listeners) this.#subscriber.redis.off(event, listener);
    if (wasListening && this.#subscriber.ready) {
      const redis = this.#subscriber.redis;
      const channel = this.#channelOf(this.nodeId);
      await (this.#sharded ? redis.sunsubscribe(channel) : redis.unsubscribe(channel)).catch(() => undefined);
    }
  }

  #channelOf(nodeId: string): string {
    return `${this.#prefix}relay:${nodeId}`;
  }

  #listen(redis: RedisClient['redis'], event: string, listener: (...args: any[]) => void): void {
    redis.on(event, listener);
    this.#listeners.push([event, listener]);
  }

  async #subscribe(): Promise<void> {
    const redis = this.#subscriber.redis;
    const channel = this.#channelOf(this.nodeId);
    try {
      await (this.#sharded ? redis.ssubscribe(channel) : redis.subscribe(channel));
      if (this.#state !== State.STARTED) return;
      if (!this.#listening) this.#logger.debug({ channel }, 'relay listening');
      this.#listening = true;
    } catch (error) {
      // The connection dropped again: the next 'ready' retries.
      this.#logger.warn({ err: error }, 'relay subscribe failed');
    }
  }

  /** The relay's Pub/Sub connection closed: answers to requests in flight may be lost. */
  #lost(): void {
    if (!this.#listening) return;
    this.#listening = false;
    for (const call of [...this.#calls.values()]) this.#settle(call, { status: 503 });
  }

  #settle(call: PendingCall, answer: RelayAnswer): void {
    if (call.settled) return;
    call.settled = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
    this.#calls.delete(call.rid);
    this.#onRequest('out', call.op, answer.status);
    call.resolve(answer);
  }

  #publish(nodeId: string, message: object): Promise<number> {
    return this.#command.call('relay', this.#sharded ? 'SPUBLISH' : 'PUBLISH', [this.#channelOf(nodeId), JSON.stringify(message)]) as Promise<number>;
  }

  /** Publishes, ignoring failures (abandon notices: the other side times out on its own). */
  #send(nodeId: string, message: object): void {
    if (!NODE_ID_PATTERN.test(nodeId)) return;
    this.#publish(nodeId, message).catch(() => undefined);
  }

  #receive(text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.#logger.warn({}, 'relay: malformed message ignored');
      return;
    }
    if (typeof message !== 'object' || message === null || typeof message.r !== 'number' || typeof message.f !== 'string') return;
    switch (message.t) {
      case 'q':
        return this.#serveRequest(message);
      case 'a':
        return this.#takeAnswer(message);
      case 'g':
        this.#served.get(`${message.f}/${message.r}`)?.abandon();
        this.#served.delete(`${message.f}/${message.r}`);
        return;
      default:
        return;
    }
  }

  /** A request from node `f` for one of this node's sessions. */
  #serveRequest(message: Record<string, unknown>): void {
    const from = message.f as string;
    const rid = message.r as number;
    const transport = message.x;
    const op = message.o;
    const frames = message.m;
    if (
      (transport !== 'polling' && transport !== 'sse') ||
      (op !== 'poll' && op !== 'send') ||
      typeof message.s !== 'string' ||
      (frames !== undefined && (!Array.isArray(frames) || frames.some((f) => typeof f !== 'string')))
    ) {
      return;
    }
    const request: RelayRequest = { transport, op, sid: message.s, ...(frames !== undefined ? { frames: frames as string[] } : {}) };
    const key = `${from}/${rid}`;
    const exchange = new ServedExchange(request, (answer) => {
      this.#onRequest('in', op, answer.status);
      // Only a poll's answer can be put back; a send is done once answered.
      if (op === 'send') this.#served.delete(key);
      const reply = { t: 'a', r: rid, f: this.nodeId, c: answer.status, ...(answer.frames !== undefined ? { m: answer.frames } : {}) };
      this.#publish(from, reply).then(
        (receivers) => {
          if (receivers === 0 && this.#countsReceivers) this.#abandonServed(key);
        },
        () => this.#abandonServed(key),
      );
    });
    this.#served.set(key, exchange);
    const handler = this.#handlers.get(transport);
    if (handler === undefined) {
      exchange.respond({ status: 404 });
      return;
    }
    try {
      handler(exchange);
    } catch (error) {
      this.#logger.error({ err: error }, 'relayed request failed');
      exchange.respond({ status: 503 });
    }
  }

  #abandonServed(key: string): void {
    const exchange = this.#served.get(key);
    this.#served.delete(key);
    exchange?.abandon();
  }

  /** An answer from node `f` to request `r`. */
  #takeAnswer(message: Record<string, unknown>): void {
    const call = this.#calls.get(message.r as number);
    const frames = message.m;
    if (call === undefined || call.owner !== message.f) {
      // Abandoned or timed out meanwhile: the owner puts the messages back.
      this.#send(message.f as string, { t: 'g', r: message.r, f: this.nodeId });
      return;
    }
    if (typeof message.c !== 'number' || (frames !== undefined && (!Array.isArray(frames) || frames.some((f) => typeof f !== 'string')))) {
      this.#settle(call, { status: 503 });
      return;
    }
    this.#settle(call, frames === undefined ? { status: message.c } : { status: message.c, frames: frames as string[] });
  }

  /** Forgets served exchanges answered long ago. */
  #sweep(): void {
    const old = Date.now() - ANSWERED_TTL_MS;
    for (const [key, exchange] of this.#served) {
      if (exchange.answered && exchange.answeredAt < old) this.#served.delete(key);
    }
  }
}
