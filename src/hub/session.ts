/**
 * One client connection as the hub sees it: its identity, its subscriptions with their stream positions, and
 * the commands it sends, handled one after another in arrival order.
 *
 * The recovery seam lives here: a subscription buffers live publications while its history is read, replies
 * with the replayed ones, then releases the buffer skipping every offset already replayed — so a client gets
 * each publication exactly once, in order, or a `gap` push naming exactly what it missed.
 *
 * @module
 */

import { randomUUID } from 'node:crypto';
import { allows, isUserLimitedChannelAllowed, type Capabilities } from './capabilities.js';
import { codecFor, encodeOnce, type Codec } from './codec.js';
import type { ClientInfo, Publication, StreamPosition } from './engine.js';
import { DisconnectError, HubError, toWireError } from './errors.js';
import type { Hub } from './hub.js';
import { Namespaces, type NamespaceOptions, type Permission } from './namespaces.js';
import type { ConnectionRequest, Transport } from './transport.js';
import { parseCommand } from './validate.js';
import {
  DisconnectCode,
  HubErrorCode,
  type Command,
  type ConnectCommand,
  type ConnectResult,
  type GapPush,
  type HistoryCommand,
  type PresenceCommand,
  type PresenceResult,
  type Push,
  type SubscribeResult,
  type WirePosition,
  type WirePublication,
} from './wire.js';

/** Lifecycle of a session, changed only by `setState`. */
export const SessionState = {
  /** Waiting for the connect command. */
  CONNECTING: 0,
  CONNECTED: 1,
  CLOSED: 2,
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** A channel subscription and where this client stands in the channel's stream. */
interface Subscription {
  readonly channel: string;
  readonly ns: Readonly<NamespaceOptions>;
  readonly nsName: string;
  /** Live publications held while the subscription is being set up; null once live. */
  buffer: Array<{ publication: Publication; epoch: string }> | null;
  epoch: string;
  /** Offset of the last publication this client has (replayed or live). */
  offset: number;
  /** This client's presence entry in the channel, once its join has landed; null without presence. */
  presence: ClientInfo | null;
}

/** The encodings of one push, computed at most once each (shared by every subscriber of a channel). */
export type SharedPush = ReturnType<typeof encodeOnce>;

/** Commands queued beyond this many disconnect the client: it is not waiting for its replies. */
const MAX_PENDING_COMMANDS = 256;

/** One connected client. Created by {@link Hub.accept}; the transport feeds it with {@link Session.receive}. */
export class Session {
  /** Unique connection id. */
  readonly id: string = randomUUID();
  readonly transport: Transport;
  readonly request: ConnectionRequest;
  /** Authenticated user, `''` when anonymous. */
  userId = '';
  /** Token `info` claim or what `onConnect` returned. */
  info: unknown = undefined;
  /** When the token expires (ms since the epoch), or 0. */
  expiresAt = 0;
  /** When the session was opened (ms since the epoch). */
  readonly openedAt = Date.now();
  /** Client library name/version from the connect command. */
  clientName = '';
  /** Rate limited: every command is refused until this time (ms since the epoch). */
  rateLimitedUntil = 0;

  private _state: SessionState = SessionState.CONNECTING;
  private capabilities: Capabilities | null = null;
  private readonly hub: Hub;
  private readonly codec: Codec;
  private readonly subscriptions = new Map<string, Subscription>();
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  /** A connect command was received (it may still be waiting for authentication). */
  private connectReceived = false;

  constructor(hub: Hub, transport: Transport, request: ConnectionRequest) {
    this.hub = hub;
    this.transport = transport;
    this.request = request;
    this.codec = codecFor(transport.encoding, { maxDepth: hub.commandLimits.maxDepth });
  }

  get state(): SessionState {
    return this._state;
  }

  /** Channels this session is subscribed to. */
  get channels(): IterableIterator<string> {
    return this.subscriptions.keys();
  }

  /** Identity attached to its publications and presence. */
  get clientInfo(): ClientInfo {
    return this.info === undefined ? { clientId: this.id, userId: this.userId } : { clientId: this.id, userId: this.userId, data: this.info };
  }

  // -------------------------------------------------------------------------------------------- from transport

  /** Handles one message from the client. Never throws: a bad message gets an error reply or a disconnect. */
  receive(frame: string | Uint8Array): void {
    if (this._state === SessionState.CLOSED) return;
    let value: unknown;
    try {
      value = this.codec.decode(frame);
    } catch {
      this.disconnect(DisconnectCode.BAD_REQUEST, 'malformed message');
      return;
    }
    const parsed = parseCommand(value, this.hub.commandLimits);
    if (!parsed.ok) {
      if (parsed.id === null) this.disconnect(DisconnectCode.BAD_REQUEST, parsed.message);
      else this.replyError(parsed.id, new HubError(HubErrorCode.BAD_REQUEST, parsed.message));
      return;
    }
    const command = parsed.command;
    const bytes = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
    this.hub.metrics.commandReceived(command.type, bytes);
    // Commands may be pipelined behind connect (they run after it, in order); before any connect they may not.
    if (command.type === 'connect') this.connectReceived = true;
    else if (!this.connectReceived) {
      this.disconnect(DisconnectCode.BAD_REQUEST, 'the first command must be connect');
      return;
    }
    const limited = this.hub.checkRate(this, command, bytes);
    if (limited !== null) {
      // One rate_limited push per episode, not one per refused command (a flood must not double our output).
      if (limited.notify) this.push({ type: 'rate_limited', retryAfterMs: limited.retryAfterMs });
      this.replyError(command.id, new HubError(HubErrorCode.RATE_LIMITED, 'rate limit exceeded', limited.retryAfterMs));
      return;
    }
    if (++this.pending > MAX_PENDING_COMMANDS) {
      this.disconnect(DisconnectCode.BAD_REQUEST, 'too many commands waiting for a reply');
      return;
    }
    this.queue = this.queue.then(() => this.handle(command));
  }

  /** The transport is gone (peer closed, network error). Cleans up without writing anything. */
  transportClosed(code = 1006, reason = ''): void {
    if (this._state === SessionState.CLOSED) return;
    this.setState(SessionState.CLOSED);
    this.cleanup(code, reason);
  }

  /**
   * Ends the session: sends a `disconnect` push with reconnect advice, then closes the transport with `code`.
   */
  disconnect(code: number, reason: string, reconnectAfterMs?: number): void {
    if (this._state === SessionState.CLOSED) return;
    const reconnect = code === 1001 || (code >= 4000 && code < 4500);
    const push: Push =
      reconnectAfterMs === undefined
        ? { type: 'disconnect', code, reason, reconnect }
        : { type: 'disconnect', code, reason, reconnect, reconnectAfterMs };
    this.write(this.codec.encode(push), false);
    this.setState(SessionState.CLOSED);
    this.transport.close(code, reason);
    this.cleanup(code, reason);
  }

  // ------------------------------------------------------------------------------------------------ commands

  private async handle(command: Command): Promise<void> {
    try {
      if (this._state === SessionState.CLOSED) return;
      if (command.type !== 'connect' && this._state !== SessionState.CONNECTED) {
        throw new HubError(HubErrorCode.UNAUTHORIZED, 'not connected: the connect command failed');
      }
      switch (command.type) {
        case 'connect':
          return await this.connect(command);
        case 'subscribe': {
          const { result, gap, flush } = await this.subscribe(command.channel, command.recover, command.presenceData, false);
          if (gap !== null) this.push(gap);
          this.reply(command.id, result);
          flush();
          return;
        }
        case 'unsubscribe':
          if (!this.subscriptions.has(command.channel)) throw new HubError(HubErrorCode.NOT_SUBSCRIBED, 'not subscribed');
          await this.unsubscribe(command.channel);
          return this.reply(command.id, {});
        case 'publish':
          return this.reply(command.id, await this.publish(command.channel, command.data, command.idempotencyKey));
        case 'presence':
          return this.reply(command.id, await this.presence(command));
        case 'history':
          return this.reply(command.id, await this.history(command));
        case 'rpc':
          return this.reply(command.id, { data: await this.hub.rpc(this, command.method, command.data) });
        case 'ping':
          return this.reply(command.id, {});
        case 'refresh':
          return await this.refresh(command.id, command.token);
      }
    } catch (error) {
      if (error instanceof DisconnectError) this.disconnect(error.code, error.reason);
      else {
        if (!(error instanceof HubError)) this.hub.logger.error({ err: error, clientId: this.id, command: command.type }, 'command failed');
        this.replyError(command.id, error);
      }
    } finally {
      this.pending--;
    }
  }

  private async connect(command: ConnectCommand): Promise<void> {
    if (this._state !== SessionState.CONNECTING) throw new HubError(HubErrorCode.BAD_REQUEST, 'already connected');
    const identity = await this.hub.authenticate(this, command.token);
    this.userId = identity.userId;
    this.capabilities = identity.capabilities;
    this.expiresAt = identity.expiresAt ?? 0;
    this.info = identity.info;
    this.clientName = [command.name, command.version].filter(Boolean).join('/');
    const decision = await this.hub.hooks.onConnect?.({
      clientId: this.id,
      userId: this.userId,
      transport: this.transport.kind,
      request: this.request,
      info: this.info,
    });
    if (decision) {
      if (decision.userId !== undefined) this.userId = decision.userId;
      if (decision.info !== undefined) this.info = decision.info;
      if (decision.expiresAt !== undefined) this.expiresAt = decision.expiresAt;
      if (decision.capabilities !== undefined) this.capabilities = decision.capabilities;
    }
    if (this.isClosed()) return;
    this.setState(SessionState.CONNECTED);
    this.hub.sessionConnected(this);

    const result: { -readonly [K in keyof ConnectResult]: ConnectResult[K] } = {
      clientId: this.id,
      userId: this.userId,
      pingIntervalMs: this.hub.limits.pingIntervalMs,
      server: this.hub.serverInfo,
    };
    if (this.expiresAt > 0) result.expiresAt = this.expiresAt;
    const flushes: Array<() => void> = [];
    const gaps: GapPush[] = [];
    if (command.subscriptions !== undefined) {
      const subs: Record<string, SubscribeResult | { error: ReturnType<typeof toWireError> }> = Object.create(null);
      for (const channel of Object.keys(command.subscriptions)) {
        try {
          const { result: sub, gap, flush } = await this.subscribe(channel, command.subscriptions[channel]!.recover, undefined, false);
          subs[channel] = sub;
          if (gap !== null) gaps.push(gap);
          flushes.push(flush);
        } catch (error) {
          if (error instanceof DisconnectError) throw error;
          subs[channel] = { error: toWireError(error) };
        }
      }
      result.subscriptions = subs;
    }
    for (const gap of gaps) this.push(gap);
    this.reply(command.id, result);
    for (const flush of flushes) flush();
  }

  private async refresh(id: number, token: string): Promise<void> {
    const identity = await this.hub.authenticate(this, token);
    if (identity.userId !== this.userId) throw new HubError(HubErrorCode.PERMISSION_DENIED, 'the token names another user');
    this.capabilities = identity.capabilities;
    this.expiresAt = identity.expiresAt ?? 0;
    this.reply(id, this.expiresAt > 0 ? { expiresAt: this.expiresAt } : {});
  }

  /**
   * Subscribes to `channel`, recovering from `recover` when given. Returns the reply, the gap push to send
   * before it (or null), and `flush`, to call right after the reply is written: it releases the publications
   * that arrived meanwhile, skipping those already replayed.
   */
  async subscribe(
    channel: string,
    recover: WirePosition | undefined,
    presenceData: unknown,
    serverSide: boolean,
  ): Promise<{ result: SubscribeResult; gap: GapPush | null; flush: () => void }> {
    const ns = this.namespaceOf(channel);
    if (!serverSide) {
      this.authorize(ns.subscribe, channel, 'subscribe');
      if (channel.includes('#') && !isUserLimitedChannelAllowed(channel, this.userId)) {
        throw new HubError(HubErrorCode.PERMISSION_DENIED, 'permission denied');
      }
    }
    if (this.subscriptions.has(channel)) throw new HubError(HubErrorCode.ALREADY_SUBSCRIBED, 'already subscribed');
    if (this.subscriptions.size >= this.hub.limits.maxSubscriptionsPerConnection) {
      throw new HubError(HubErrorCode.LIMIT_EXCEEDED, 'too many subscriptions on this connection');
    }
    if (ns.maxSubscribers > 0 && this.hub.localSubscribers(channel) >= ns.maxSubscribers) {
      throw new HubError(HubErrorCode.LIMIT_EXCEEDED, 'channel is full');
    }
    if (!serverSide) {
      await this.hub.hooks.onSubscribe?.({ clientId: this.id, userId: this.userId, channel, presenceData });
    }
    if (this.isClosed()) throw new HubError(HubErrorCode.UNAVAILABLE, 'connection closed');

    // Checked again right before registering: other subscribes may have completed while onSubscribe ran.
    if (ns.maxSubscribers > 0 && this.hub.localSubscribers(channel) >= ns.maxSubscribers) {
      throw new HubError(HubErrorCode.LIMIT_EXCEEDED, 'channel is full');
    }
    if (this.subscriptions.has(channel)) throw new HubError(HubErrorCode.ALREADY_SUBSCRIBED, 'already subscribed');
    const sub: Subscription = { channel, ns, nsName: Namespaces.nameOf(channel), buffer: [], epoch: '', offset: 0, presence: null };
    this.subscriptions.set(channel, sub);
    let gap: GapPush | null = null;
    let result: SubscribeResult;
    try {
      // Registered (and buffering) before history is read: nothing published from here on can be missed.
      await this.hub.addLocalSubscriber(channel, this);
      if (ns.historySize > 0) {
        const recovered = await this.hub.recover(channel, recover);
        gap = recovered.gap;
        result = recovered.result;
      } else {
        result = { epoch: '', offset: 0, recovered: false, publications: [] };
      }
      if (this.subscriptions.get(channel) !== sub || this.isClosed()) {
        throw new HubError(HubErrorCode.UNAVAILABLE, 'subscription ended while it was set up');
      }
      sub.epoch = result.epoch;
      sub.offset = result.offset;
      if (ns.presence) {
        const info = presenceData === undefined ? this.clientInfo : { clientId: this.id, userId: this.userId, data: presenceData };
        await this.hub.presenceJoin(channel, info, ns);
        if (this.subscriptions.get(channel) !== sub || this.isClosed()) {
          // The client left while its join was in flight: take the entry back out (no ghost member).
          await this.hub.presenceLeave(channel, info, ns);
          throw new HubError(HubErrorCode.UNAVAILABLE, 'subscription ended while it was set up');
        }
        sub.presence = info;
      }
    } catch (error) {
      if (this.subscriptions.get(channel) === sub) {
        this.subscriptions.delete(channel);
        this.hub.removeLocalSubscriber(channel, this);
      }
      throw error;
    }
    this.hub.metrics.subscriptionAdded(sub.nsName);
    if (recover !== undefined && ns.historySize > 0) {
      this.hub.metrics.recovery(sub.nsName, result.recovered);
      if (gap !== null) this.hub.metrics.gap(sub.nsName);
    }
    const flush = () => {
      const held = sub.buffer;
      sub.buffer = null;
      if (held === null || this.subscriptions.get(channel) !== sub) return;
      for (const { publication, epoch } of held) {
        this.deliverLive(sub, publication, epoch, encodeOnce(publicationPush(channel, publication)));
      }
    };
    return { result, gap, flush };
  }

  /** Removes a subscription (client request, server API, or cleanup). */
  async unsubscribe(channel: string): Promise<void> {
    const sub = this.subscriptions.get(channel);
    if (sub === undefined) return;
    this.subscriptions.delete(channel);
    this.hub.removeLocalSubscriber(channel, this);
    this.hub.metrics.subscriptionRemoved(sub.nsName);
    if (sub.presence !== null) await this.hub.presenceLeave(channel, sub.presence, sub.ns);
  }

  /** This client's presence entry in `channel` (for the hub's periodic refresh), if it has one. */
  presenceEntry(channel: string): ClientInfo | null {
    return this.subscriptions.get(channel)?.presence ?? null;
  }

  private async publish(channel: string, data: unknown, idempotencyKey: string | undefined) {
    const ns = this.namespaceOf(channel);
    this.authorize(ns.publish, channel, 'publish');
    if (channel.includes('#') && !isUserLimitedChannelAllowed(channel, this.userId) && !this.capabilityAllows(channel, 'publish')) {
      throw new HubError(HubErrorCode.PERMISSION_DENIED, 'permission denied');
    }
    const decision = await this.hub.hooks.onPublish?.({ clientId: this.id, userId: this.userId, channel, data });
    if (decision && 'data' in decision) data = decision.data;
    return this.hub.publish(channel, data, { info: this.clientInfo, idempotencyKey });
  }

  private async presence(command: PresenceCommand): Promise<PresenceResult> {
    const ns = this.namespaceOf(command.channel);
    if (!ns.presence) throw new HubError(HubErrorCode.UNAVAILABLE, 'presence is off in this namespace');
    this.authorize(ns.presenceQuery, command.channel, 'presence');
    const stats = await this.hub.presenceStore.stats(command.channel);
    if (command.countsOnly || ns.countsOnly) return stats;
    const members = await this.hub.presenceStore.members(command.channel);
    return { ...stats, members: [...members.values()] };
  }

  private async history(command: HistoryCommand) {
    const ns = this.namespaceOf(command.channel);
    if (ns.historySize === 0) throw new HubError(HubErrorCode.UNAVAILABLE, 'history is off in this namespace');
    this.authorize(ns.history, command.channel, 'history');
    const page = await this.hub.historyStore.read(command.channel, {
      ...(command.since !== undefined ? { since: command.since } : {}),
      ...(command.limit !== undefined ? { limit: command.limit } : {}),
      ...(command.reverse !== undefined ? { reverse: command.reverse } : {}),
    });
    return { epoch: page.epoch, offset: page.offset, publications: page.publications.map(toWirePublication) };
  }

  // ------------------------------------------------------------------------------------------------- delivery

  /**
   * A publication from the broker for a channel this session may be subscribed to. Returns the bytes written
   * (0 when held back or skipped).
   */
  deliver(channel: string, publication: Publication, epoch: string, shared: SharedPush): number {
    const sub = this.subscriptions.get(channel);
    if (sub === undefined) return 0;
    if (sub.buffer !== null) {
      sub.buffer.push({ publication, epoch });
      return 0;
    }
    return this.deliverLive(sub, publication, epoch, shared);
  }

  /**
   * Replays from history what this subscription missed while the broker could not deliver (an outage, a starved
   * subscription): live publications are held meanwhile, so the replay and the live stream meet without loss
   * or duplicates; what history no longer holds is reported as a gap. Returns the position the subscription
   * reached, or null when it did not catch up (not subscribed, being set up, gone, or history failed).
   */
  async catchUp(channel: string): Promise<StreamPosition | null> {
    const sub = this.subscriptions.get(channel);
    // A subscription still being set up is covered by its own seam.
    if (sub === undefined || sub.buffer !== null || this.isClosed()) return null;
    sub.buffer = [];
    let caughtUp = false;
    try {
      const { result, gap } = await this.hub.recover(channel, { epoch: sub.epoch, offset: sub.offset });
      if (this.subscriptions.get(channel) !== sub) return null;
      if (gap !== null) {
        this.push(gap);
        this.hub.metrics.gap(sub.nsName);
        sub.epoch = result.epoch;
        sub.offset = gap.toOffset;
      }
      for (const publication of result.publications) {
        this.deliverLive(sub, publication, result.epoch, encodeOnce(publicationPush(channel, publication)));
      }
      caughtUp = true;
    } catch (error) {
      this.hub.logger.warn({ err: error, channel, clientId: this.id }, 'catch-up from history failed');
    } finally {
      const held = sub.buffer;
      sub.buffer = null;
      if (held !== null && this.subscriptions.get(channel) === sub) {
        for (const { publication, epoch } of held) {
          this.deliverLive(sub, publication, epoch, encodeOnce(publicationPush(channel, publication)));
        }
      }
    }
    return caughtUp && this.subscriptions.get(channel) === sub ? { epoch: sub.epoch, offset: sub.offset } : null;
  }

  /**
   * Tells the client that publications of a channel without history may have been lost (offsets 0: the
   * count is unknown).
   */
  pushUnknownGap(channel: string): void {
    const sub = this.subscriptions.get(channel);
    if (sub === undefined) return;
    this.push({ type: 'gap', channel, fromOffset: 0, toOffset: 0, epochChanged: false });
    this.hub.metrics.gap(sub.nsName);
  }

  /** A join or leave for a channel this session is subscribed to. */
  deliverPresence(channel: string, push: Push): void {
    const sub = this.subscriptions.get(channel);
    if (sub === undefined || sub.buffer !== null || !sub.ns.joinLeave) return;
    this.push(push);
  }

  private deliverLive(sub: Subscription, publication: Publication, epoch: string, shared: SharedPush): number {
    if (publication.offset > 0) {
      if (epoch !== sub.epoch) {
        // The stream restarted under us: say so, then continue in the new epoch.
        this.push({ type: 'gap', channel: sub.channel, fromOffset: 1, toOffset: publication.offset - 1, epochChanged: true });
        this.hub.metrics.gap(sub.nsName);
        sub.epoch = epoch;
      } else if (publication.offset <= sub.offset) {
        return 0; // already replayed or delivered
      } else if (publication.offset > sub.offset + 1) {
        this.push({ type: 'gap', channel: sub.channel, fromOffset: sub.offset + 1, toOffset: publication.offset - 1, epochChanged: false });
        this.hub.metrics.gap(sub.nsName);
      }
      sub.offset = publication.offset;
    }
    if (this.codec.encoding === 'msgpack') {
      const bytes = shared.msgpack();
      this.write(bytes, true);
      return bytes.byteLength;
    }
    // Bytes are encoded once per publication; their length is also the right count for non-ASCII text.
    const bytes = shared.jsonBytes();
    this.write(this.transport.textAsBytes === true ? bytes : shared.json(), true);
    return bytes.byteLength;
  }

  // --------------------------------------------------------------------------------------------------- helpers

  /** Sends a push to this client. */
  push(push: Push): void {
    this.write(this.codec.encode(push), false);
  }

  private reply(id: number, result: unknown): void {
    if (this._state === SessionState.CLOSED) return;
    this.write(this.codec.encode({ id, result }), false);
  }

  private replyError(id: number, error: unknown): void {
    if (this._state === SessionState.CLOSED) return;
    this.write(this.codec.encode({ id, error: toWireError(error) }), false);
  }

  /** Writes to the transport; applies the slow-consumer policy when it refuses. */
  private write(frame: string | Uint8Array, droppable: boolean): void {
    if (this._state === SessionState.CLOSED && droppable) return;
    // Replies and control pushes are essential: they pass the soft queue cap (up to the transport's hard cap).
    if (this.transport.write(frame, !droppable)) return;
    if (this.hub.limits.slowConsumerPolicy === 'drop' && droppable) {
      this.hub.metrics.slowConsumer('drop');
      return;
    }
    if (this.isClosed()) return;
    this.hub.metrics.slowConsumer('disconnect');
    // The queue is full, so no disconnect push can be queued either: close with the code alone.
    this.setState(SessionState.CLOSED);
    this.transport.close(DisconnectCode.SLOW, 'slow');
    this.cleanup(DisconnectCode.SLOW, 'slow');
  }

  private namespaceOf(channel: string): Readonly<NamespaceOptions> {
    const ns = this.hub.namespaces.lookup(channel);
    if (ns === null) throw new HubError(HubErrorCode.NOT_FOUND, 'unknown namespace');
    return ns;
  }

  private capabilityAllows(channel: string, action: 'subscribe' | 'publish' | 'presence' | 'history'): boolean {
    return this.capabilities !== null && allows(this.capabilities, channel, action);
  }

  /** Throws `permission_denied` unless the namespace policy or the token's capabilities allow `action`. */
  private authorize(permission: Permission, channel: string, action: 'subscribe' | 'publish' | 'presence' | 'history'): void {
    if (this.capabilityAllows(channel, action)) return;
    if (permission === 'anyone') return;
    if (permission === 'authenticated' && this.userId !== '') return;
    throw new HubError(HubErrorCode.PERMISSION_DENIED, 'permission denied');
  }

  private cleanup(code: number, reason: string): void {
    for (const channel of [...this.subscriptions.keys()]) {
      this.unsubscribe(channel).catch((error: unknown) => this.hub.logger.warn({ err: error, channel }, 'presence leave failed'));
    }
    this.hub.sessionClosed(this, code, reason);
  }

  /** Whether the session ended (a method, so checks after an await are not narrowed away). */
  private isClosed(): boolean {
    return this._state === SessionState.CLOSED;
  }

  private setState(state: SessionState): void {
    this._state = state;
  }
}

/** The push for a publication in `channel`. */
export function publicationPush(channel: string, publication: Publication): Push {
  return publication.info === undefined
    ? { type: 'publication', channel, offset: publication.offset, data: publication.data, time: publication.time }
    : { type: 'publication', channel, offset: publication.offset, data: publication.data, info: publication.info, time: publication.time };
}

/** A publication as it goes on the wire. */
export function toWirePublication(publication: Publication): WirePublication {
  return publication.info === undefined
    ? { offset: publication.offset, data: publication.data, time: publication.time }
    : { offset: publication.offset, data: publication.data, info: publication.info, time: publication.time };
}
