/**
 * The WebSocket transport: upgrades requests at a path, negotiates the hub subprotocol (`volley.v1.json` or
 * `volley.v1.msgpack`), and connects each socket to a hub session. Connections per IP are counted by the client's
 * address (`trustProxy`, see client-address.ts), which the socket server is given, rather than by the TCP peer:
 * behind a balancer that is the balancer.
 *
 * @module
 */

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Hub } from '../hub/hub.js';
import type { Session } from '../hub/session.js';
import type { Transport } from '../hub/transport.js';
import { selectSubprotocol } from '../hub/codec.js';
import { DisconnectCode, SUBPROTOCOL_MSGPACK, type Encoding } from '../hub/wire.js';
import { PreparedMessage } from '../protocol/prepared.js';
import { WebSocketServer, type WebSocketServerOptions } from '../socket/server.js';
import type { WebSocket } from '../socket/websocket.js';
import { clientAddressOf, type ClientAddress, type TrustProxy } from './client-address.js';
import { connectionRequest } from './http-session.js';

/** Options of the WebSocket transport. */
export interface WebSocketTransportOptions {
  /**
   * Largest message a client may send, in bytes (after decompression).
   * @default 65536
   */
  maxMessageSize?: number;
  /**
   * Outbound bytes queued per client before the hub's slow-consumer policy applies.
   * @default 1048576 (1 MiB, as Centrifugo's client queue)
   */
  maxQueueBytes?: number;
  /** Allowed browser origins (403 before the upgrade for others). @default every origin */
  allowedOrigins?: readonly string[];
  /** permessage-deflate. @default false */
  perMessageDeflate?: WebSocketServerOptions['perMessageDeflate'];
  /** WebSocket heartbeat. @default { pingInterval: 25000, pongTimeout: 20000 } */
  heartbeat?: WebSocketServerOptions['heartbeat'];
  /** Most connections per client address (429 with `Retry-After: 5`). @default 0 (unlimited) */
  maxConnectionsPerIp?: number;
  /**
   * Which proxies' `X-Forwarded-For` names the client, for `maxConnectionsPerIp` and the session's
   * `remoteAddress` (the key of the `ip` rate limits); see {@link TrustProxy}.
   * @default false: the TCP peer is the client
   */
  trustProxy?: TrustProxy;
  /** Most connections in total (503). @default 0 (unlimited) */
  maxConnections?: number;
}

/** Serves hub sessions over WebSocket. Call {@link WebSocketTransport.handleUpgrade} from an HTTP server. */
export class WebSocketTransport {
  private readonly wss: WebSocketServer;
  private readonly hub: Hub;
  private readonly maxQueueBytes: number;
  private readonly clientAddress: ClientAddress;

  constructor(hub: Hub, options: WebSocketTransportOptions = {}) {
    this.hub = hub;
    this.maxQueueBytes = options.maxQueueBytes ?? 1024 * 1024;
    this.clientAddress = clientAddressOf(options.trustProxy);
    this.wss = new WebSocketServer({
      noServer: true,
      maxMessageSize: options.maxMessageSize ?? 64 * 1024,
      ...(options.allowedOrigins !== undefined ? { allowedOrigins: options.allowedOrigins } : {}),
      perMessageDeflate: options.perMessageDeflate ?? false,
      heartbeat: options.heartbeat ?? { pingInterval: 25_000, pongTimeout: 20_000 },
      maxConnections: options.maxConnections ?? 0,
      // Counted by the client's address, not the TCP peer's (behind a balancer that is the balancer).
      maxConnectionsPerIp: options.maxConnectionsPerIp ?? 0,
      clientAddress: this.clientAddress,
      // The hub applies its own slow-consumer policy; the socket never drops on its own before that.
      maxBufferedAmount: Number.MAX_SAFE_INTEGER,
      backpressurePolicy: 'drop',
      handleProtocols: (offered) => selectSubprotocol(offered),
    });
  }

  /** Completes a WebSocket handshake for the hub (from an HTTP server's `'upgrade'` event). */
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, req));
  }

  /** Number of open WebSockets. */
  get connections(): number {
    return this.wss.clients.size;
  }

  /** Closes every WebSocket (after the hub has told the clients why). */
  close(): Promise<void> {
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }

  private open(ws: WebSocket, req: IncomingMessage): void {
    const encoding: Encoding = ws.protocol === SUBPROTOCOL_MSGPACK ? 'msgpack' : 'json';
    const transport = new SocketTransport(ws, encoding, this.maxQueueBytes);
    const session: Session = this.hub.accept(transport, connectionRequest(req, this.clientAddress));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (encoding === 'json') {
        if (isBinary) session.disconnect(DisconnectCode.BAD_REQUEST, 'the JSON protocol uses text messages');
        else session.receive(data.toString('utf8'));
      } else if (!isBinary) {
        session.disconnect(DisconnectCode.BAD_REQUEST, 'the MessagePack protocol uses binary messages');
      } else session.receive(data);
    });
    ws.on('close', (code: number, reason: string) => session.transportClosed(code, reason));
  }
}

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

/** Publications up to this size are framed once for all their subscribers (larger ones are sent uncopied anyway). */
const PREPARE_LIMIT = 64 * 1024;
/**
 * The last publication's bytes and their frame. A hub broadcast hands the same (immutable, encoded once) bytes to
 * every subscriber's transport in turn, so one entry is enough for the whole loop, and holds one message at most.
 */
let lastBytes: Uint8Array | null = null;
let lastFrame: PreparedMessage | null = null;

function preparedFor(bytes: Uint8Array, binary: boolean): PreparedMessage {
  if (bytes !== lastBytes || lastFrame === null || lastFrame.binary !== binary) {
    lastFrame = new PreparedMessage(bytes, binary);
    lastBytes = bytes;
  }
  return lastFrame;
}

/** One WebSocket as a hub transport. */
class SocketTransport implements Transport {
  readonly kind = 'websocket';
  readonly textAsBytes = true;
  constructor(
    private readonly ws: WebSocket,
    readonly encoding: Encoding,
    private readonly maxQueueBytes: number,
  ) {}

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  write(message: string | Uint8Array, essential: boolean): boolean {
    // Only bytes the kernel has not taken count: a burst written in one tick to a healthy client is not slowness.
    const stuck = this.ws.writableLength;
    if (stuck > (essential ? 2 * this.maxQueueBytes : this.maxQueueBytes)) return false;
    const binary = this.encoding !== 'json';
    // A publication (the only kind of message that is not essential) is the same bytes for every subscriber:
    // frame it once. JSON goes out as text even when it comes as bytes.
    if (!essential && typeof message !== 'string' && message.byteLength <= PREPARE_LIMIT) this.ws.send(preparedFor(message, binary));
    else this.ws.send(message, binary ? BINARY : TEXT);
    return true;
  }

  close(code: number, reason: string): void {
    try {
      this.ws.close(code, truncateUtf8(reason, 123));
    } catch {
      this.ws.terminate();
    }
  }
}

/** Cuts `text` to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}
