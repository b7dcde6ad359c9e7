/**
 * The Server-Sent Events transport: hub messages pushed over one long `text/event-stream` response, commands
 * sent with POST.
 *
 * - `GET /sse` (`Accept: text/event-stream`) → a stream whose first event is `event: open` with
 *   `data: {"sid":"…"}`, then one unnamed event `data: <json>` per hub message. A `: ping` comment every
 *   `keepaliveMs` keeps proxies from closing it. The session ends with the stream.
 * - `POST /sse/send?sid=SID` with a JSON array of commands → 204 (as long-polling's `/poll/send`).
 * - `GET /sse?channel=a&channel=b` → a stream for a plain `EventSource` or `curl -N` without the SDK: the server
 *   connects and subscribes by itself, and resumes after `Last-Event-ID` (see `sse-channels.ts`).
 *
 * With a {@link SessionRelay} (several nodes, no sticky sessions), a stream's session lives on the node serving
 * the stream; its sid names that node, and a `POST /sse/send` that reaches another node is relayed to it.
 *
 * @example
 * ```ts
 * const sse = new SseTransport(hub);
 * http.createServer((req, res) => {
 *   if (!sse.handle(req, res)) { res.statusCode = 404; res.end(); }
 * });
 * ```
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import type { Session } from '../hub/session.js';
import type { Transport } from '../hub/transport.js';
import { DisconnectCode } from '../hub/wire.js';
import {
  acceptCommands,
  answerFailure,
  fallbackSettings,
  handRelayedCommands,
  startKeepaliveSweep,
  type CommandEndpoint,
  type FallbackSettings,
  type FallbackTransportOptions,
} from './fallback-common.js';
import {
  CommandInbox,
  connectionRequest,
  disconnectFrame,
  endStream,
  EVENT_STREAM_HEADERS,
  FallbackError,
  FallbackErrorCode,
  frameText,
  integerOption,
  isDisconnectFrame,
  methodNotAllowed,
  newSid,
  prepareSocket,
  splitUrl,
  writeCorked,
  type RelayExchange,
  type SessionRelay,
} from './http-session.js';
import { ChannelStream, startChannelStream } from './sse-channels.js';

/** Options of the SSE transport. */
export interface SseTransportOptions extends FallbackTransportOptions {
  /** Path of the stream; commands go to `PATH/send`. @default '/sse' */
  readonly path?: string;
  /** Interval of the `: ping` comments that keep proxies from closing an idle stream, in ms. @default 15000 */
  readonly keepaliveMs?: number;
}

/** Defaults of {@link SseTransportOptions}. */
export const SSE_DEFAULTS = Object.freeze({ path: '/sse', keepaliveMs: 15_000 });

/** Serves hub sessions over Server-Sent Events. Route requests to {@link SseTransport.handle}. */
export class SseTransport {
  private readonly hub: Hub;
  private readonly settings: FallbackSettings;
  /** SDK streams by sid. */
  private readonly streams = new Map<string, SseStream>();
  /** Plain `EventSource` streams (no sid: they take no commands). */
  private readonly channelStreams = new Set<ChannelStream>();
  /** Where `POST PATH/send` hands its commands. */
  private readonly commands: CommandEndpoint;
  /** One timer writes every stream's keepalive comment; one checks every session's keepalive deadline. */
  private readonly pinger: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;

  constructor(hub: Hub, options: SseTransportOptions = {}) {
    this.hub = hub;
    this.settings = fallbackSettings(hub, options, SSE_DEFAULTS.path);
    const keepaliveMs = integerOption(options.keepaliveMs, SSE_DEFAULTS.keepaliveMs, 'keepaliveMs');
    this.commands = { hub, settings: this.settings, transport: 'sse', sessionOf: (sid) => this.streams.get(sid) };
    this.settings.relay?.serve('sse', (exchange) => this.serveRelayed(exchange));
    this.pinger = setInterval(() => this.ping(), keepaliveMs);
    this.pinger.unref();
    this.sweeper = startKeepaliveSweep(() => this.streams.values(), this.settings.pingTimeoutMs);
  }

  /** Open streams, SDK and plain. */
  get connections(): number {
    return this.streams.size + this.channelStreams.size;
  }

  /** Answers the request when it is one of this transport's; returns whether it was. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const { path, query } = splitUrl(req.url);
    const { base, maxSessions } = this.settings;
    const route = path === base ? 'stream' : path === `${base}/send` ? 'send' : null;
    if (route === null) return false;
    const cors = this.settings.origins.admit(req, res);
    if (cors === null) return true;
    try {
      if (route === 'stream') {
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        if (!acceptsEventStream(req.headers.accept)) throw new FallbackError(FallbackErrorCode.NOT_ACCEPTABLE, 'this endpoint answers text/event-stream');
        if (maxSessions > 0 && this.connections >= maxSessions) throw new FallbackError(FallbackErrorCode.UNAVAILABLE, 'too many sessions');
        if (query.has('channel')) this.openChannels(req, res, query, cors);
        else this.openStream(req, res, cors);
      } else {
        if (req.method !== 'POST') throw methodNotAllowed('POST');
        acceptCommands(req, res, cors, query, this.commands);
      }
    } catch (error) {
      answerFailure(this.hub, res, cors, error, { transport: 'SSE', route });
    }
    return true;
  }

  /** Ends every stream. */
  async close(): Promise<void> {
    clearInterval(this.pinger);
    clearInterval(this.sweeper);
    for (const stream of [...this.streams.values()]) stream.session.disconnect(DisconnectCode.SHUTDOWN, 'server closed');
    for (const stream of [...this.channelStreams]) stream.end();
  }

  /** An SDK stream: the client sends its commands to `/sse/send?sid=…`. */
  private openStream(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>): void {
    const sid = newSid(this.settings.relay?.nodeId);
    const stream = new SseStream(res, this.settings.maxQueueBytes);
    this.streams.set(sid, stream);
    prepareSocket(req);
    res.writeHead(200, { ...EVENT_STREAM_HEADERS, ...cors });
    res.write(`event: open\ndata: ${JSON.stringify({ sid })}\n\n`);
    res.once('close', () => {
      this.streams.delete(sid);
      stream.ended();
    });
    // Accepted after the stream started: a hub that is shutting down ends the session at once, in band.
    stream.attachSession(this.hub.accept(stream, connectionRequest(req, this.settings.clientAddress)));
  }

  /** A plain `EventSource` stream that subscribes by URL. */
  private openChannels(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, cors: Record<string, string>): void {
    const stream = startChannelStream(this.hub, req, res, query, {
      cors,
      maxQueueBytes: this.settings.maxQueueBytes,
      clientAddress: this.settings.clientAddress,
      onStart: () => prepareSocket(req),
    });
    this.channelStreams.add(stream);
    res.once('close', () => {
      this.channelStreams.delete(stream);
      stream.ended();
    });
  }

  /** Commands another node relayed for one of this node's streams. */
  private serveRelayed(exchange: RelayExchange): void {
    const { request } = exchange;
    if (request.op !== 'send') return exchange.respond({ status: 404 });
    handRelayedCommands(exchange, this.streams.get(request.sid));
  }

  private ping(): void {
    for (const stream of this.streams.values()) stream.comment('ping');
    for (const stream of this.channelStreams) stream.comment('ping');
  }
}

/** Whether an `Accept` header admits `text/event-stream` (no header admits anything). */
export function acceptsEventStream(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((item) => {
    const type = item.split(';', 1)[0]!.trim().toLowerCase();
    return type === 'text/event-stream' || type === 'text/*' || type === '*/*';
  });
}

/** One SDK client's event stream as a hub transport. */
class SseStream implements Transport {
  readonly kind = 'sse';
  readonly encoding = 'json' as const;
  session!: Session;
  readonly inbox: CommandInbox = new CommandInbox(this);
  private open = true;
  private lastWasDisconnect = false;
  private readonly cork = { corked: false };

  constructor(
    private readonly res: ServerResponse,
    private readonly maxQueueBytes: number,
  ) {}

  attachSession(session: Session): void {
    this.session = session;
  }

  isOpen(): boolean {
    return this.open;
  }

  get bufferedAmount(): number {
    return this.res.writableLength;
  }

  write(message: string | Uint8Array, essential: boolean): boolean {
    if (!this.open) return true;
    // Only bytes the kernel has not taken count, as on a WebSocket.
    if (this.res.writableLength > (essential ? 2 * this.maxQueueBytes : this.maxQueueBytes)) return false;
    const frame = frameText(message);
    this.lastWasDisconnect = isDisconnectFrame(frame);
    writeCorked(this.res, `data: ${frame}\n\n`, this.cork);
    return true;
  }

  close(code: number, reason: string): void {
    if (!this.open) return;
    this.open = false;
    if (!this.lastWasDisconnect) writeCorked(this.res, `data: ${disconnectFrame(code, reason)}\n\n`, this.cork);
    endStream(this.res);
  }

  /** Writes an SSE comment line (ignored by `EventSource`). */
  comment(text: string): void {
    if (this.open) writeCorked(this.res, `: ${text}\n\n`, this.cork);
  }

  /** The response closed (the client went away, or the stream was ended). */
  ended(): void {
    const wasOpen = this.open;
    this.open = false;
    if (wasOpen) this.session.transportClosed(1006, 'stream closed');
  }
}
