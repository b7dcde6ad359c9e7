/**
 * Subscribe by URL: `GET /sse?channel=a&channel=b` streams publications to a plain `EventSource` or `curl -N`,
 * with no SDK and no commands. The server runs the client's side of the protocol itself: it sends `connect`
 * (with the `token` parameter or the `Authorization: Bearer` header, else anonymous) subscribing every channel,
 * then turns what the hub sends into events:
 *
 * - each publication → `event: publication`, `data: {"channel","offset","data","info"?,"time"}`, and an `id:`
 *   holding every channel's position: base64url of JSON `{"<channel>":["<epoch>",<offset>],…}`;
 * - each gap → `event: gap`, `data:` the hub's `gap` push, with the positions after it as `id:`;
 * - a subscription refused (unknown namespace, permission) → `event: error` with
 *   `data: {"channel","code","message"}`, and the stream ends;
 * - nothing else (replies, presence, other pushes are not sent).
 *
 * A reconnect with `Last-Event-ID` (or the `lastEventId` parameter, for clients that cannot set headers)
 * subscribes each channel with `recover` from the positions it names, so the publications missed meanwhile
 * are replayed exactly once and in order, or a gap event says what was lost.
 *
 * Refusals before the stream starts are plain HTTP answers: 401 for a missing or bad token, 400 for a bad
 * channel name or `Last-Event-ID`, 503 while the hub shuts down.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import type { Session } from '../hub/session.js';
import type { Transport } from '../hub/transport.js';
import { DisconnectCode, HubErrorCode, type ConnectResult, type GapPush, type SubscribeResult, type WireError } from '../hub/wire.js';
import type { ClientAddress } from './client-address.js';
import {
  connectionRequest,
  endStream,
  EVENT_STREAM_HEADERS,
  FallbackError,
  FallbackErrorCode,
  frameText,
  sendJson,
  writeCorked,
} from './http-session.js';

/** A channel's position as event ids carry it: the epoch and the offset of the last publication delivered. */
export type Position = readonly [epoch: string, offset: number];

/** Longest `Last-Event-ID` accepted, in characters (128 channels with long names and epochs fit). */
const MAX_EVENT_ID_LENGTH = 32_768;
const EPOCH = /^[\x20-\x7e]{0,64}$/;

/** Encodes positions as an event id: base64url of `{"<channel>":["<epoch>",<offset>],…}`. */
export function encodePositions(positions: ReadonlyMap<string, Position>): string {
  const object: Record<string, Position> = Object.create(null) as Record<string, Position>;
  for (const [channel, position] of positions) object[channel] = position;
  return Buffer.from(JSON.stringify(object)).toString('base64url');
}

/**
 * Decodes an event id made by {@link encodePositions}.
 *
 * @throws FallbackError `bad_request` when it is not one.
 */
export function decodePositions(id: string): Map<string, Position> {
  const bad = (): never => {
    throw new FallbackError(FallbackErrorCode.BAD_REQUEST, 'Last-Event-ID is not an event id of this stream');
  };
  if (id.length > MAX_EVENT_ID_LENGTH || !/^[A-Za-z0-9_-]*$/.test(id)) bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(id, 'base64url').toString('utf8'));
  } catch {
    bad();
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad();
  const positions = new Map<string, Position>();
  for (const [channel, position] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(position) || position.length !== 2) bad();
    const [epoch, offset] = position as unknown[];
    if (typeof epoch !== 'string' || !EPOCH.test(epoch) || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) bad();
    positions.set(channel, [epoch as string, offset as number]);
  }
  return positions;
}

/** Options of {@link startChannelStream}. */
export interface ChannelStreamOptions {
  /** CORS headers of the request. */
  readonly cors: Readonly<Record<string, string>>;
  /** Unsent bytes allowed before the hub's slow-consumer policy applies. */
  readonly maxQueueBytes: number;
  /** Finds the client's address (see client-address.ts). */
  readonly clientAddress: ClientAddress;
  /** Called when the stream starts (the 200 goes out). */
  readonly onStart?: () => void;
}

/**
 * Starts a subscribe-by-URL stream: reads the channels, token and `Last-Event-ID` of `req`, opens a hub session
 * and sends its `connect`. The answer (a stream, or an HTTP error) follows when the hub replies.
 *
 * @throws FallbackError `bad_request` for a malformed `Last-Event-ID`.
 */
export function startChannelStream(hub: Hub, req: IncomingMessage, res: ServerResponse, query: URLSearchParams, options: ChannelStreamOptions): ChannelStream {
  const channels = [...new Set(query.getAll('channel'))];
  const header = req.headers['last-event-id'];
  const lastEventId = typeof header === 'string' && header !== '' ? header : (query.get('lastEventId') ?? '');
  const recover = lastEventId === '' ? new Map<string, Position>() : decodePositions(lastEventId);
  const subscriptions: Record<string, { recover?: { epoch: string; offset: number } }> = Object.create(null) as Record<string, never>;
  for (const channel of channels) {
    const position = recover.get(channel);
    subscriptions[channel] = position === undefined ? {} : { recover: { epoch: position[0], offset: position[1] } };
  }
  const token = bearerToken(req.headers.authorization) ?? query.get('token') ?? undefined;
  const stream = new ChannelStream(hub, res, channels, recover, options);
  stream.attachSession(hub.accept(stream, connectionRequest(req, options.clientAddress)));
  stream.session.receive(
    JSON.stringify({ id: CONNECT_ID, type: 'connect', name: 'eventsource', ...(token !== undefined && token !== '' ? { token } : {}), subscriptions }),
  );
  return stream;
}

/** The token of an `Authorization: Bearer …` header. */
function bearerToken(authorization: string | undefined): string | undefined {
  const match = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization);
  return match === null ? undefined : match[1];
}

/** The id of the one command the stream sends. */
const CONNECT_ID = 1;

/** Lifecycle of a {@link ChannelStream}, changed only by `setPhase`. */
const Phase = {
  /** `connect` sent, no answer yet. */
  CONNECTING: 0,
  STREAMING: 1,
  ENDED: 2,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** HTTP status of each hub error code a refused `connect` can carry. */
function statusOfHubError(code: string): number {
  switch (code) {
    case HubErrorCode.BAD_REQUEST:
      return 400;
    case HubErrorCode.UNAUTHORIZED:
    case HubErrorCode.TOKEN_EXPIRED:
      return 401;
    case HubErrorCode.PERMISSION_DENIED:
      return 403;
    case HubErrorCode.LIMIT_EXCEEDED:
    case HubErrorCode.RATE_LIMITED:
      return 429;
    case HubErrorCode.UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

/** HTTP refusal for a session the hub ended before the stream started. */
function refusalOfDisconnect(code: number, reason: string): { status: number; code: string; message: string } {
  switch (code) {
    case DisconnectCode.UNAUTHORIZED:
      return { status: 401, code: HubErrorCode.UNAUTHORIZED, message: reason };
    case DisconnectCode.TOKEN_EXPIRED:
      return { status: 401, code: HubErrorCode.TOKEN_EXPIRED, message: reason };
    case DisconnectCode.BAD_REQUEST:
      return { status: 400, code: HubErrorCode.BAD_REQUEST, message: reason };
    case DisconnectCode.FORBIDDEN:
    case DisconnectCode.KICKED:
      return { status: 403, code: 'forbidden', message: reason };
    case DisconnectCode.CONNECTION_LIMIT:
    case DisconnectCode.RATE_LIMITED:
      return { status: 429, code: HubErrorCode.LIMIT_EXCEEDED, message: reason };
    default:
      return { status: 503, code: HubErrorCode.UNAVAILABLE, message: reason };
  }
}

/** The start of every publication push the hub encodes (its fields: type, channel, offset, data, info?, time). */
const PUBLICATION_PREFIX = '{"type":"publication",';
/** Channel and offset of an encoded publication push (channel names contain no `"` or `\`). */
const PUBLICATION_HEAD = /^\{"type":"publication","channel":"([^"\\]*)","offset":(\d+),/;

/** A subscribe-by-URL stream as a hub transport: it answers the hub's messages in the client's place. */
export class ChannelStream implements Transport {
  readonly kind = 'sse';
  readonly encoding = 'json' as const;
  session!: Session;

  private phase: Phase = Phase.CONNECTING;
  /** Each channel's position, in the order of the URL: where it recovers from, then after each event. */
  private readonly positions = new Map<string, Position>();
  /** Channels subscribed with `recover`. */
  private readonly recovering = new Set<string>();
  /** Gap pushes that came before the connect reply (they belong before its replays). */
  private readonly earlyGaps: GapPush[] = [];
  /** Messages held while the new epoch of a channel is looked up (after a live epoch change). */
  private backlog: string[] | null = null;
  private lastId = '';
  private readonly cork = { corked: false };

  constructor(
    private readonly hub: Hub,
    private readonly res: ServerResponse,
    private readonly channels: readonly string[],
    recover: ReadonlyMap<string, Position>,
    private readonly options: ChannelStreamOptions,
  ) {
    for (const channel of channels) {
      const position = recover.get(channel);
      if (position !== undefined) this.recovering.add(channel);
      this.positions.set(channel, position ?? ['', 0]);
    }
  }

  attachSession(session: Session): void {
    this.session = session;
  }

  get bufferedAmount(): number {
    return this.res.writableLength;
  }

  write(message: string | Uint8Array, essential: boolean): boolean {
    if (this.phase === Phase.ENDED) return true;
    if (this.phase === Phase.CONNECTING) {
      this.beforeStart(frameText(message));
      return true;
    }
    if (this.res.writableLength > (essential ? 2 * this.options.maxQueueBytes : this.options.maxQueueBytes)) return false;
    this.live(frameText(message));
    return true;
  }

  close(code: number, reason: string): void {
    if (this.phase === Phase.CONNECTING) {
      const refusal = refusalOfDisconnect(code, reason);
      this.refuse(refusal.status, refusal.code, refusal.message);
    } else if (this.phase === Phase.STREAMING) {
      this.setPhase(Phase.ENDED);
      endStream(this.res);
    }
  }

  /** Writes an SSE comment line. */
  comment(text: string): void {
    if (this.phase === Phase.STREAMING) writeCorked(this.res, `: ${text}\n\n`, this.cork);
  }

  /** Ends the stream from the server's side (shutdown). */
  end(): void {
    this.session.disconnect(DisconnectCode.SHUTDOWN, 'server closed');
  }

  /** The response closed (the client went away, or the stream was ended). */
  ended(): void {
    if (this.phase === Phase.ENDED) return;
    this.setPhase(Phase.ENDED);
    this.session.transportClosed(1006, 'stream closed');
  }

  // ------------------------------------------------------------------------------------------- connecting

  private beforeStart(frame: string): void {
    const message = JSON.parse(frame) as { id?: number; type?: string; result?: ConnectResult; error?: WireError };
    if (message.id === CONNECT_ID) {
      if (message.error !== undefined) {
        this.refuse(statusOfHubError(message.error.code), message.error.code, message.error.message);
        // The session is still waiting for a successful connect: end it.
        process.nextTick(() => this.session.transportClosed(1000, 'connect refused'));
      } else {
        this.start(message.result!);
      }
    } else if (message.type === 'gap') {
      this.earlyGaps.push(message as unknown as GapPush);
    }
    // A disconnect push is followed by close(); other pushes have no event in this mode.
  }

  private refuse(status: number, code: string, message: string): void {
    this.setPhase(Phase.ENDED);
    sendJson(this.res, status, { error: { code, message } }, { ...this.options.cors, ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) });
  }

  private start(result: ConnectResult): void {
    const subscriptions = result.subscriptions ?? {};
    this.options.onStart?.();
    this.res.writeHead(200, { ...EVENT_STREAM_HEADERS, ...this.options.cors });
    this.setPhase(Phase.STREAMING);
    const refused = this.channels.filter((channel) => 'error' in (subscriptions[channel] ?? {}));
    if (refused.length > 0) {
      for (const channel of refused) {
        const { code, message } = (subscriptions[channel] as { error: WireError }).error;
        this.event('error', JSON.stringify({ channel, code, message }), null);
      }
      this.setPhase(Phase.ENDED);
      endStream(this.res);
      process.nextTick(() => this.session.transportClosed(1000, 'subscription refused'));
      return;
    }
    const results = new Map<string, SubscribeResult>();
    for (const channel of this.channels) {
      const sub = subscriptions[channel] as SubscribeResult;
      results.set(channel, sub);
      // Channels not recovering start at the current position; the others at theirs until replayed.
      if (!this.recovering.has(channel) || sub.epoch === '') this.positions.set(channel, [sub.epoch, sub.offset]);
    }
    for (const gap of this.earlyGaps) {
      const sub = results.get(gap.channel);
      if (sub === undefined) continue;
      this.positions.set(gap.channel, [sub.epoch, gap.toOffset]);
      this.event('gap', JSON.stringify(gap), this.idNow());
    }
    for (const channel of this.channels) {
      const sub = results.get(channel)!;
      for (const publication of sub.publications) {
        this.positions.set(channel, [sub.epoch, publication.offset]);
        const data =
          publication.info === undefined
            ? { channel, offset: publication.offset, data: publication.data, time: publication.time }
            : { channel, offset: publication.offset, data: publication.data, info: publication.info, time: publication.time };
        this.event('publication', JSON.stringify(data), this.idNow());
      }
      this.positions.set(channel, [sub.epoch, sub.offset]);
    }
    // An id-only block (no event is dispatched) so that a reconnect resumes from here even before the first
    // publication arrives.
    const id = this.idNow();
    if (id !== this.lastId) this.write_(`id: ${id}\n\n`, id);
  }

  // ----------------------------------------------------------------------------------------------- live

  private live(frame: string): void {
    if (this.backlog !== null) {
      this.backlog.push(frame);
      return;
    }
    const head = PUBLICATION_HEAD.exec(frame);
    if (head !== null) {
      const channel = head[1]!;
      const position = this.positions.get(channel);
      if (position === undefined) return;
      const offset = Number(head[2]);
      if (offset > 0) this.positions.set(channel, [position[0], offset]);
      this.event('publication', `{${frame.slice(PUBLICATION_PREFIX.length)}`, this.idNow());
      return;
    }
    if (!frame.startsWith('{"type":"gap"')) return;
    const gap = JSON.parse(frame) as GapPush;
    const position = this.positions.get(gap.channel);
    if (position === undefined) return;
    if (!gap.epochChanged) {
      this.positions.set(gap.channel, [position[0], gap.toOffset]);
      this.event('gap', frame, this.idNow());
      return;
    }
    // The stream restarted under us and pushes do not name the new epoch: look it up, holding what follows.
    this.backlog = [];
    this.hub.historyStore.position(gap.channel).then(
      ({ epoch }) => {
        if (this.phase !== Phase.STREAMING) return;
        this.positions.set(gap.channel, [epoch, gap.toOffset]);
        this.event('gap', frame, this.idNow());
        const held = this.backlog ?? [];
        this.backlog = null;
        for (let i = 0; i < held.length; i++) {
          if (this.backlog !== null) {
            // Another epoch change: the rest waits behind it, in order.
            (this.backlog as string[]).push(...held.slice(i));
            break;
          }
          this.live(held[i]!);
        }
      },
      (error: unknown) => {
        // Without the epoch no id would be right: end the stream; the client reconnects and recovers.
        this.hub.logger.warn({ err: error, channel: gap.channel }, 'history position lookup failed');
        this.session.disconnect(DisconnectCode.SHUTDOWN, 'history unavailable');
      },
    );
  }

  /** Writes one event; `id` null leaves the stream's last event id as it is. */
  private event(name: string, data: string, id: string | null): void {
    this.write_(id === null ? `event: ${name}\ndata: ${data}\n\n` : `event: ${name}\nid: ${id}\ndata: ${data}\n\n`, id);
  }

  private write_(text: string, id: string | null): void {
    if (id !== null) this.lastId = id;
    writeCorked(this.res, text, this.cork);
  }

  private idNow(): string {
    return encodePositions(this.positions);
  }

  private setPhase(phase: Phase): void {
    this.phase = phase;
  }
}

