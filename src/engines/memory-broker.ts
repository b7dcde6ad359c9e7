/**
 * {@link MemoryBroker}: in-process fan-out. Alone it serves one node; brokers that share a {@link MemoryBus} act as
 * several nodes in one process (the way tests and examples run a multi-node hub without Redis).
 *
 * Delivery is synchronous: `publish`, `publishJoin` and `publishLeave` call the handler of every subscribed
 * broker before their promise is returned. A publish made from inside a handler is queued and delivered as soon
 * as the current delivery returns, so every broker sees one channel's events in the order the calls were made.
 * Events are delivered by reference: handlers must not mutate them.
 *
 * @example
 * ```ts
 * const bus = new MemoryBus();
 * const a = new MemoryBroker({ bus });
 * const b = new MemoryBroker({ bus });
 * b.setHandler({ publication: (channel, pub) => console.log(channel, pub.data), join() {}, leave() {} });
 * await b.subscribe('chat:lobby');
 * await a.publish('chat:lobby', { offset: 1, data: 'hi', time: Date.now() }, 'epoch');  // logged by b
 * ```
 *
 * @module
 */

import type { Broker, BrokerHandler, ClientInfo, Publication } from '../hub/engine.js';
import { EngineError, EngineErrorCode, checkBrokerHandler, checkString, closedError, invalidArgument } from './errors.js';

/** What travels on a {@link MemoryBus}. */
type BusEvent =
  | { readonly kind: 'publication'; readonly publication: Publication; readonly epoch: string }
  | { readonly kind: 'join' | 'leave'; readonly info: ClientInfo };

/** A broker as the bus sees it. */
interface BusMember {
  receive(channel: string, event: BusEvent): void;
}

/**
 * The in-process transport between {@link MemoryBroker}s: share one to make brokers behave as nodes of one hub.
 * Each broker gets a private bus unless given one.
 */
export class MemoryBus {
  readonly #members = new Map<string, Set<BusMember>>();
  readonly #queue: Array<{ readonly channel: string; readonly event: BusEvent }> = [];
  #draining = false;

  /** Number of channels at least one broker subscribed to. */
  get channels(): number {
    return this.#members.size;
  }

  /** @internal Adds `member` to `channel`'s receivers. */
  attach(channel: string, member: BusMember): void {
    let members = this.#members.get(channel);
    if (members === undefined) this.#members.set(channel, (members = new Set()));
    members.add(member);
  }

  /** @internal Removes `member` from `channel`'s receivers. */
  detach(channel: string, member: BusMember): void {
    const members = this.#members.get(channel);
    if (members === undefined) return;
    members.delete(member);
    if (members.size === 0) this.#members.delete(channel);
  }

  /**
   * @internal Delivers `event` to every member of `channel` now, or, when called from inside a delivery, right
   * after the deliveries queued before it.
   */
  send(channel: string, event: BusEvent): void {
    if (!this.#members.has(channel)) return;
    this.#queue.push({ channel, event });
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let i = 0; i < this.#queue.length; i++) {
        const { channel: target, event: next } = this.#queue[i]!;
        const members = this.#members.get(target);
        if (members === undefined) continue;
        for (const member of [...members]) member.receive(target, next);
      }
    } finally {
      this.#queue.length = 0;
      this.#draining = false;
    }
  }
}

/** Options of {@link MemoryBroker}. */
export interface MemoryBrokerOptions {
  /**
   * The bus shared with other brokers that should act as other nodes of the same hub.
   * @default a new bus of its own (a single node)
   */
  readonly bus?: MemoryBus;
  /**
   * Receives an error thrown by the handler. The publisher is not told (as with a remote node), and other
   * receivers still get the event.
   * @default emits a process warning
   */
  readonly onError?: (error: unknown, channel: string) => void;
}

const State = { AWAITING_HANDLER: 'awaiting-handler', READY: 'ready', CLOSED: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/** The in-process broker; see the module description for its ordering guarantee. */
export class MemoryBroker implements Broker {
  #state: State = State.AWAITING_HANDLER;
  #handler: BrokerHandler | undefined;
  readonly #bus: MemoryBus;
  readonly #onError: (error: unknown, channel: string) => void;
  readonly #channels = new Set<string>();
  readonly #member: BusMember = { receive: (channel, event) => this.#receive(channel, event) };

  /** @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad option. */
  constructor(options: MemoryBrokerOptions = {}) {
    if (options.bus !== undefined && !(options.bus instanceof MemoryBus)) invalidArgument('bus must be a MemoryBus');
    this.#bus = options.bus ?? new MemoryBus();
    this.#onError = options.onError ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error)));
    if (typeof this.#onError !== 'function') invalidArgument('onError must be a function');
  }

  /** Channels this broker is subscribed to. */
  get channels(): ReadonlySet<string> {
    return this.#channels;
  }

  /**
   * Installs the receiver of deliveries.
   *
   * @throws EngineError `VOLLEY_ERR_INVALID_STATE` when a handler is already installed or the broker is closed.
   */
  setHandler(handler: BrokerHandler): void {
    if (this.#state !== State.AWAITING_HANDLER) {
      throw new EngineError(EngineErrorCode.INVALID_STATE, this.#state === State.CLOSED ? 'MemoryBroker is closed' : 'setHandler was already called');
    }
    checkBrokerHandler(handler);
    this.#handler = handler;
    this.#state = State.READY;
  }

  async publish(channel: string, publication: Publication, epoch: string): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    this.#bus.send(channel, { kind: 'publication', publication, epoch });
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    this.#bus.send(channel, { kind: 'join', info });
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    this.#bus.send(channel, { kind: 'leave', info });
  }

  /** Starts receiving `channel`. Idempotent. Rejects `VOLLEY_ERR_INVALID_STATE` before `setHandler`. */
  async subscribe(channel: string): Promise<void> {
    this.#assertOpen();
    if (this.#state !== State.READY) throw new EngineError(EngineErrorCode.INVALID_STATE, 'setHandler must be called before subscribe');
    checkString('channel', channel);
    if (this.#channels.has(channel)) return;
    this.#channels.add(channel);
    this.#bus.attach(channel, this.#member);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    if (!this.#channels.delete(channel)) return;
    this.#bus.detach(channel, this.#member);
  }

  /** Unsubscribes from everything. Idempotent; every later call rejects `VOLLEY_ERR_INVALID_STATE`. */
  async close(): Promise<void> {
    if (this.#state === State.CLOSED) return;
    this.#state = State.CLOSED;
    for (const channel of this.#channels) this.#bus.detach(channel, this.#member);
    this.#channels.clear();
    this.#handler = undefined;
  }

  #assertOpen(): void {
    if (this.#state === State.CLOSED) closedError('MemoryBroker');
  }

  #receive(channel: string, event: BusEvent): void {
    const handler = this.#handler;
    if (handler === undefined || !this.#channels.has(channel)) return;
    try {
      if (event.kind === 'publication') handler.publication(channel, event.publication, event.epoch);
      else if (event.kind === 'join') handler.join(channel, event.info);
      else handler.leave(channel, event.info);
    } catch (error) {
      this.#onError(error, channel);
    }
  }
}
