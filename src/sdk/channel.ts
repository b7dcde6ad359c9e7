/**
 * A channel as the application sees it: subscribe, publications in order and exactly once, gaps, publish,
 * presence, history. The channel keeps its stream position and decides, for each publication the hub sends
 * (live or replayed after a reconnect), whether it is new: a publication whose offset is not greater than
 * the last one delivered in the same epoch is a duplicate and is dropped.
 *
 * @module
 */

import type { GapPush, JoinPush, LeavePush, PublicationPush, SubscribeResult, WirePosition, WirePublication } from '../hub/wire.js';
import { Emitter } from './emitter.js';
import { ClientErrorCode, VolleyError } from './errors.js';
import { checkJson } from './names.js';
import {
  ChannelState,
  type ChannelEvents,
  type HistoryOptions,
  type HistoryResult,
  type PresenceOptions,
  type PresenceResult,
  type Publication,
  type PublishAck,
  type PublishOptions,
  type StreamPosition,
} from './types.js';

/** What a channel needs from its client. @internal */
export interface ChannelHost {
  readonly isConnected: boolean;
  subscribeNow(channel: Channel<any>): void;
  unsubscribeNow(channel: string): void;
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishAck>;
  presence(channel: string, options?: PresenceOptions): Promise<PresenceResult>;
  history(channel: string, options?: HistoryOptions): Promise<HistoryResult<unknown>>;
}

/**
 * Options of {@link Channel.subscribe}.
 *
 * @example
 * ```ts
 * const saved = JSON.parse(localStorage.getItem('lobby-position') ?? 'null');
 * await room.subscribe({ presenceData: { name: 'Ada' }, ...(saved ? { since: saved } : {}) });
 * addEventListener('pagehide', () => localStorage.setItem('lobby-position', JSON.stringify(room.position)));
 * ```
 */
export interface SubscribeOptions {
  /** Shown to other members in presence and join/leave events (namespaces with presence). */
  readonly presenceData?: unknown;
  /**
   * Resume from this position (saved from `channel.position`, e.g. across a page reload): the hub replays
   * what came after it, or reports a gap.
   */
  readonly since?: StreamPosition;
  /**
   * Resume from the last position after a reconnect. Turn off for channels where only live data matters.
   * @default true
   */
  readonly recover?: boolean;
}

interface Waiter {
  resolve(): void;
  reject(error: VolleyError): void;
}

/**
 * A channel of a {@link Volley} client, typed by its payload `T`. Get one with `client.channel<T>(name)`.
 *
 * @example
 * ```ts
 * type Chat = { text: string };
 * const room = client.channel<Chat>('chat:room-1');
 * room.on('publication', (pub) => console.log(pub.offset, pub.data.text));
 * room.on('gap', ({ fromOffset, toOffset }) => console.warn(`missed ${fromOffset}..${toOffset}`));
 * await room.subscribe();
 * const { offset } = await room.publish({ text: 'hello' });
 * ```
 */
export class Channel<T = unknown> extends Emitter<ChannelEvents<T>> {
  /** The channel name, e.g. `chat:room-1`. */
  readonly name: string;
  readonly #host: ChannelHost;
  #state: ChannelState = ChannelState.UNSUBSCRIBED;
  /** The last delivered position; null before the first subscribe result. */
  #position: { epoch: string; offset: number } | null = null;
  /**
   * False after a live `gap` with `epochChanged`: the offsets are the new epoch's, whose name the hub has
   * not told yet (a publication carries no epoch). Recovery then keeps the offset filter.
   */
  #epochKnown = true;
  #presenceData: unknown = undefined;
  #recover = true;
  /** Counts subscribe() and unsubscribe() calls, so that a late reply to an older intent is recognised. */
  #intent = 0;
  /** Whether the current subscribe resumes from a position. */
  #recovering = false;
  #waiters: Waiter[] = [];
  /** Subscribe retries since the last success (for the retry delay). @internal */
  retries = 0;

  /** @internal Created by `client.channel()`. */
  constructor(name: string, host: ChannelHost) {
    super();
    this.name = name;
    this.#host = host;
  }

  /** `unsubscribed`, `subscribing` (waiting for a connection or the hub's answer) or `subscribed`. */
  get state(): ChannelState {
    return this.#state;
  }

  /** The position of the last publication delivered (or of the subscription start), or null. */
  get position(): StreamPosition | null {
    return this.#position === null ? null : { epoch: this.#position.epoch, offset: this.#position.offset };
  }

  /**
   * Subscribes, now or as soon as the client is connected, and resubscribes after every reconnect (with
   * recovery). Resolves once subscribed; rejects when the hub refuses for good (e.g. `permission_denied`)
   * or `unsubscribe()` is called first. The promise may be ignored: failures are also `error` events.
   */
  subscribe(options: SubscribeOptions = {}): Promise<void> {
    if (options.presenceData !== undefined) checkJson(options.presenceData, 'presenceData');
    if (options.since !== undefined) {
      const { epoch, offset } = options.since;
      if (typeof epoch !== 'string' || !Number.isSafeInteger(offset) || offset < 0) {
        throw new VolleyError(ClientErrorCode.INVALID_ARGUMENT, 'since must be {epoch: string, offset: integer ≥ 0}');
      }
    }
    if (this.#state === ChannelState.SUBSCRIBED) return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    promise.catch(() => {}); // reported as 'error' events too: an ignored promise must not crash the process
    if (this.#state === ChannelState.UNSUBSCRIBED) {
      this.#intent++;
      this.#presenceData = options.presenceData;
      this.#recover = options.recover ?? true;
      if (options.since !== undefined) {
        this.#position = { epoch: options.since.epoch, offset: options.since.offset };
        this.#epochKnown = true;
      }
      this.retries = 0;
      this.#setSubscribing('subscribe');
      if (this.#host.isConnected) this.#host.subscribeNow(this);
    }
    return promise;
  }

  /**
   * Stops the subscription: no publication is delivered after this call, and the position is forgotten.
   */
  unsubscribe(): Promise<void> {
    if (this.#state === ChannelState.UNSUBSCRIBED) return Promise.resolve();
    const wasActive = this.#host.isConnected;
    this.#intent++;
    this.#state = ChannelState.UNSUBSCRIBED;
    this.#position = null;
    this.#epochKnown = true;
    this.#rejectWaiters(new VolleyError(ClientErrorCode.UNSUBSCRIBED, `unsubscribed from ${this.name} before the subscription completed`));
    this.emit('unsubscribed', { channel: this.name, reason: 'unsubscribe', byServer: false });
    if (wasActive) this.#host.unsubscribeNow(this.name);
    return Promise.resolve();
  }

  /**
   * Publishes `data` (the client need not be subscribed). Resolves with the hub's ack; while disconnected
   * the publish waits in the outbox and goes out after the reconnect, keeping its idempotency key.
   *
   * @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` (synchronously) when `data` is not JSON.
   */
  publish(data: T, options?: PublishOptions): Promise<PublishAck> {
    return this.#host.publish(this.name, data, options);
  }

  /** Who is in the channel (namespaces with presence). */
  presence(options?: PresenceOptions): Promise<PresenceResult> {
    return this.#host.presence(this.name, options);
  }

  /** A page of the channel's history (namespaces with history). */
  history(options?: HistoryOptions): Promise<HistoryResult<T>> {
    return this.#host.history(this.name, options) as Promise<HistoryResult<T>>;
  }

  // ------------------------------------------------------------------------------------- from the client

  /** @internal The intent counter, captured when a subscribe is sent. */
  get intent(): number {
    return this.#intent;
  }

  /** @internal The fields of a `subscribe` command (or a `connect.subscriptions` entry). */
  subscribeFields(): { recover?: WirePosition; presenceData?: unknown } {
    const fields: { recover?: WirePosition; presenceData?: unknown } = {};
    const position = this.#position;
    this.#recovering = this.#recover && position !== null && position.epoch !== '';
    if (this.#recovering) fields.recover = { epoch: position!.epoch, offset: position!.offset };
    if (this.#presenceData !== undefined) fields.presenceData = this.#presenceData;
    return fields;
  }

  /** @internal Whether the subscribe must be its own command (connect.subscriptions carries no presence data). */
  get needsOwnCommand(): boolean {
    return this.#presenceData !== undefined;
  }

  /** @internal The hub's subscribe result: replay, then live. */
  subscribed(result: SubscribeResult): void {
    if (this.#state !== ChannelState.SUBSCRIBING) return;
    const history = result.epoch !== '';
    let position = this.#position;
    if (!history) position = { epoch: '', offset: 0 };
    else if (position === null || (this.#epochKnown && position.epoch !== result.epoch)) {
      // First subscription, or a new stream (the hub sent its gap before this reply): start from the replay.
      position = { epoch: result.epoch, offset: this.#recovering ? 0 : result.offset };
    }
    this.#position = position;
    this.#state = ChannelState.SUBSCRIBED;
    for (const publication of Array.isArray(result.publications) ? result.publications : []) {
      this.#deliver(publication, false);
      if (this.#state !== ChannelState.SUBSCRIBED) return; // a listener unsubscribed
    }
    if (history) {
      position = this.#position!;
      this.#position = { epoch: result.epoch, offset: Math.max(position.offset, result.offset) };
      this.#epochKnown = true;
    }
    this.retries = 0;
    const wasRecovering = this.#recovering;
    this.#recovering = false;
    const waiters = this.#waiters;
    this.#waiters = [];
    this.emit('subscribed', {
      channel: this.name,
      epoch: result.epoch,
      offset: this.#position!.offset,
      wasRecovering,
      recovered: result.recovered === true,
    });
    for (const waiter of waiters) waiter.resolve();
  }

  /** @internal A live publication. */
  publication(push: PublicationPush): void {
    if (this.#state !== ChannelState.SUBSCRIBED) return;
    this.#deliver(push, true);
  }

  /** @internal A gap push (before a recovering subscribe reply, or live). */
  gap(push: GapPush): void {
    if (this.#state === ChannelState.UNSUBSCRIBED) return;
    const position = this.#position;
    if (position !== null && position.epoch !== '') {
      if (push.epochChanged) {
        // A known epoch is gone: offsets restart in the new one. An epoch already unknown (a live change
        // followed since) keeps its offsets: they are the new stream's.
        if (this.#epochKnown) this.#position = { epoch: position.epoch, offset: Math.max(0, push.toOffset) };
        this.#epochKnown = false;
      } else {
        this.#position = { epoch: position.epoch, offset: Math.max(position.offset, push.toOffset) };
      }
    }
    this.emit('gap', { channel: this.name, fromOffset: push.fromOffset, toOffset: push.toOffset, epochChanged: push.epochChanged });
  }

  /** @internal A join or leave push. */
  presenceEvent(push: JoinPush | LeavePush): void {
    if (this.#state !== ChannelState.SUBSCRIBED) return;
    this.emit(push.type, { channel: this.name, info: push.info });
  }

  /** @internal The connection ended: an active subscription waits for the next one. */
  connectionLost(): void {
    if (this.#state === ChannelState.SUBSCRIBED) this.#setSubscribing('reconnect');
  }

  /** @internal A subscribe was refused. `permanent`: give up (the hub will not change its mind). */
  failed(error: VolleyError, permanent: boolean): void {
    if (this.#state === ChannelState.UNSUBSCRIBED) return;
    this.emit('error', { channel: this.name, error });
    // A listener may have unsubscribed meanwhile.
    if (!permanent || (this.#state as ChannelState) === ChannelState.UNSUBSCRIBED) return;
    this.#intent++;
    this.#state = ChannelState.UNSUBSCRIBED;
    this.#rejectWaiters(error);
    this.emit('unsubscribed', { channel: this.name, reason: error.code, byServer: true });
  }

  /** @internal The hub ended the subscription (`unsubscribed` push). */
  serverUnsubscribed(reason: string): void {
    if (this.#state === ChannelState.UNSUBSCRIBED) return;
    this.#intent++;
    this.#state = ChannelState.UNSUBSCRIBED;
    this.#position = null;
    this.#rejectWaiters(new VolleyError(ClientErrorCode.UNSUBSCRIBED, `the hub ended the subscription to ${this.name}: ${reason}`));
    this.emit('unsubscribed', { channel: this.name, reason, byServer: true });
  }

  /** @internal A retry of a refused subscribe is starting. */
  retrying(): void {
    if (this.#state === ChannelState.SUBSCRIBING) this.emit('subscribing', { channel: this.name, reason: 'retry' });
  }

  #setSubscribing(reason: 'subscribe' | 'reconnect'): void {
    this.#state = ChannelState.SUBSCRIBING;
    this.emit('subscribing', { channel: this.name, reason });
  }

  #deliver(publication: WirePublication, live: boolean): void {
    const position = this.#position!;
    if (position.epoch !== '') {
      if (publication.offset <= position.offset) return; // already delivered: a duplicate
      if (live && publication.offset > position.offset + 1) {
        // The hub reports its gaps before the next publication; this one it did not: report it ourselves.
        this.emit('gap', { channel: this.name, fromOffset: position.offset + 1, toOffset: publication.offset - 1, epochChanged: false });
      }
      this.#position = { epoch: position.epoch, offset: publication.offset };
    }
    const pub: Publication<T> =
      publication.info === undefined
        ? { channel: this.name, data: publication.data as T, offset: publication.offset, time: publication.time }
        : { channel: this.name, data: publication.data as T, offset: publication.offset, info: publication.info, time: publication.time };
    this.emit('publication', pub);
  }

  #rejectWaiters(error: VolleyError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }
}
