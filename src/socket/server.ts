/**
 * `WebSocketServer`: accepts WebSocket upgrades standalone on a port, on an existing `http`/`https` server, or
 * (`noServer`) from any framework through {@link WebSocketServer.handleUpgrade}.
 *
 * Every raw socket gets an `'error'` listener before anything else, every rejection gets the status the RFC
 * asks for (400/403/405/426/429/503), and nothing a client sends can throw out of the server.
 *
 * @module
 */

import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { CloseCode } from '../protocol/constants.js';
import { ErrorCode, WebSocketError, invalidArgument } from '../protocol/errors.js';
import { PreparedMessage } from '../protocol/prepared.js';
import { acceptKey, buildErrorResponse, buildUpgradeResponse, validateUpgradeRequest } from '../protocol/handshake.js';
import {
  negotiateDeflate,
  resolveDeflateOptions,
  type PerMessageDeflateOptions,
  type ResolvedDeflateOptions,
} from '../protocol/permessage-deflate.js';
import type { MessageCodec } from '../protocol/types.js';
import { createDeflateCodec } from './deflate-codec.js';
import { Heartbeat, type HeartbeatOptions } from './heartbeat.js';
import { SendStatus, WebSocket, resolveSocketSettings, toSendable, type SocketSettings, type WebSocketBaseOptions } from './websocket.js';

/** What a `verifyClient` callback learns about a handshake. */
export interface VerifyClientInfo {
  /** The upgrade request. */
  req: IncomingMessage;
  /** Its `Origin` header, if any. */
  origin: string | undefined;
  /** Whether it came over TLS. */
  secure: boolean;
}

/** A `verifyClient` refusal: the status (401, 403, ...) and optional message and headers. */
export interface Rejection {
  code: number;
  message?: string;
  headers?: Record<string, string>;
}

/** Options of a {@link WebSocketServer}. */
export interface WebSocketServerOptions extends WebSocketBaseOptions {
  /** Listen on this port (standalone mode). */
  port?: number;
  /** Host to bind in standalone mode. @default '::' (all interfaces, like node:http) */
  host?: string;
  /** Attach to this existing `http`/`https` server instead of listening. */
  server?: HttpServer | HttpsServer;
  /** Create no server: the application calls {@link WebSocketServer.handleUpgrade}. */
  noServer?: boolean;
  /** Only accept upgrades for this path (query string ignored). @default any path */
  path?: string;
  /**
   * Allowed `Origin` values, compared exactly (scheme, host, port; case-insensitive). A browser request from any
   * other origin gets 403 before the upgrade (CSWSH). Requests without `Origin` (non-browser clients) pass.
   * @default undefined (every origin allowed)
   */
  allowedOrigins?: readonly string[];
  /**
   * Decides whether to accept a handshake: return (or resolve to) `true`, `false` (→ 401), or a
   * {@link Rejection}. Runs after the protocol checks, before the 101 reply.
   */
  verifyClient?: (info: VerifyClientInfo) => boolean | Rejection | Promise<boolean | Rejection>;
  /**
   * Picks a subprotocol from the client's offer (in the client's order). Return one of them, or `false` for none.
   * @default the first offered protocol
   */
  handleProtocols?: (protocols: readonly string[], req: IncomingMessage) => string | false;
  /**
   * Negotiate permessage-deflate (RFC 7692). `true` uses the defaults.
   * @default false (compression costs CPU and memory per connection; turn it on where messages are large and compressible)
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * Time allowed from the first request byte to the 101 reply, in ms, including an async `verifyClient`.
   * @default 10000
   */
  handshakeTimeout?: number;
  /**
   * Largest request header block, in bytes, in standalone mode (larger → 431). Attached servers use their own.
   * @default 16384
   */
  maxHeaderSize?: number;
  /**
   * Most open WebSockets; further handshakes get 503 with `Retry-After`. 0 is unlimited.
   * @default 0
   */
  maxConnections?: number;
  /**
   * Most open WebSockets per remote IP; further handshakes get 429 with `Retry-After`. 0 is unlimited (behind a
   * proxy every client shares the proxy's address, so a default would lock users out).
   * @default 0
   */
  maxConnectionsPerIp?: number;
  /**
   * The client address `maxConnectionsPerIp` counts by. Behind a proxy, pass one that reads `X-Forwarded-For`
   * from trusted proxies only (a client can write that header itself).
   * @default the TCP peer's address
   */
  clientAddress?: (req: IncomingMessage) => string;
  /**
   * Ping idle clients and drop those that do not answer; `false` turns it off.
   * @default { pingInterval: 20000, pongTimeout: 20000 }
   */
  heartbeat?: HeartbeatOptions | false;
  /**
   * Keep the set of open clients in {@link WebSocketServer.clients}.
   * @default true
   */
  clientTracking?: boolean;
}

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/**
 * A WebSocket server.
 *
 * @example
 * ```ts
 * const wss = new WebSocketServer({ port: 8080 });
 * wss.on('connection', (ws) => {
 *   ws.on('message', (data, isBinary) => ws.send(isBinary ? data : data.toString()));
 * });
 * ```
 */
export class WebSocketServer extends EventEmitter {
  /** Open clients (when `clientTracking` is on). */
  readonly clients = new Set<WebSocket>();
  /** The HTTP server in use, when not `noServer`. */
  readonly server: HttpServer | HttpsServer | null;

  private readonly options: WebSocketServerOptions;
  /** Socket limits, heartbeat and protocol settings, resolved once and shared by every accepted socket. */
  private readonly settings: SocketSettings;
  private readonly deflate: ResolvedDeflateOptions | null;
  private readonly handshakeTimeout: number;
  private readonly allowedOrigins: Set<string> | null;
  /** Open WebSockets per remote address, kept only when `maxConnectionsPerIp` is set. */
  private readonly perIp = new Map<string, number>();
  private readonly perIpLimit: number;
  private readonly ownsServer: boolean;
  private connections = 0;
  private closing = false;
  private closed = false;
  /** Sockets whose handshake waits on an async verifyClient. */
  private readonly pending = new Set<Socket>();
  private detach: (() => void) | null = null;

  constructor(options: WebSocketServerOptions, callback?: () => void) {
    super();
    const modes = [options.port !== undefined, options.server !== undefined, options.noServer === true].filter(Boolean).length;
    if (modes !== 1) invalidArgument('exactly one of "port", "server" or "noServer" must be given');
    this.options = options;
    this.handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    if (!(this.handshakeTimeout > 0)) invalidArgument('handshakeTimeout must be a positive number of ms');
    this.deflate = options.perMessageDeflate ? resolveDeflateOptions(options.perMessageDeflate) : null;
    this.settings = resolveSocketSettings({
      ...options,
      role: 'server',
      compressThreshold: this.deflate?.threshold,
      heartbeat: options.heartbeat === false ? null : new Heartbeat(options.heartbeat ?? {}),
    });
    this.allowedOrigins = options.allowedOrigins ? new Set(options.allowedOrigins.map(normalizeOrigin)) : null;
    for (const origin of this.allowedOrigins ?? []) {
      if (origin.startsWith('invalid:')) invalidArgument(`allowedOrigins: ${origin.slice(8)} is not an origin (scheme://host[:port])`);
    }
    for (const name of ['maxConnections', 'maxConnectionsPerIp'] as const) {
      const value = options[name];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) invalidArgument(`${name} must be a non-negative integer`);
    }
    this.perIpLimit = options.maxConnectionsPerIp ?? 0;

    if (options.port !== undefined) {
      const server = createServer(
        {
          maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
          // Node checks headersTimeout only this often (30 s by default): check often enough to honour it.
          connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(this.handshakeTimeout / 4))),
        },
        refuseHttp,
      );
      // Slow handshakes (slowloris before the upgrade) are cut by Node's own header timeout.
      server.headersTimeout = this.handshakeTimeout;
      server.requestTimeout = this.handshakeTimeout;
      this.server = server;
      this.ownsServer = true;
      server.listen(options.port, options.host, callback);
    } else {
      this.server = options.server ?? null;
      this.ownsServer = false;
      if (callback) process.nextTick(callback);
    }
    if (this.server !== null) {
      const server = this.server;
      const attached = attachedServers(server);
      attached.add(this);
      const onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer) => {
        if (!this.matchesPath(req)) {
          // Another upgrade handler may own this path. When every listener is a WebSocketServer and all of them
          // declined, nobody will answer: refuse instead of leaving the socket open forever.
          const declined = (declines.get(socket) ?? 0) + 1;
          declines.set(socket, declined);
          if (declined >= attached.size && server.listenerCount('upgrade') === attached.size) {
            rejectSocket(socket, 400, 'Unexpected path');
          }
          return;
        }
        this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
      };
      const onListening = () => this.emit('listening');
      const onError = (error: Error) => this.emit('error', error);
      server.on('upgrade', onUpgrade);
      server.on('listening', onListening);
      server.on('error', onError);
      this.detach = () => {
        attached.delete(this);
        server.removeListener('upgrade', onUpgrade);
        server.removeListener('listening', onListening);
        server.removeListener('error', onError);
      };
    }
  }

  /** The bound address in standalone mode (as `net.Server#address()`). */
  address(): AddressInfo | string | null {
    if (this.server === null) invalidArgument('the server is in noServer mode');
    return this.server.address();
  }

  /**
   * Completes (or refuses) a WebSocket handshake for a request taken from any HTTP server's `'upgrade'` event.
   * `callback` receives the open WebSocket; a refused handshake gets its HTTP reply and the socket is closed.
   */
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, callback: (ws: WebSocket, req: IncomingMessage) => void): void {
    // First thing: no error from this socket may ever escape (CVE-2022-41940 class).
    socket.on('error', destroySocket);
    if (this.closing) return rejectSocket(socket, 503, 'Server is shutting down');
    // This is only reached from an 'upgrade' event, so a missing Upgrade header was dropped by Node
    // (maxHeadersCount, CVE-2024-37890): the request is malformed, not a plain HTTP request.
    if (req.headers.upgrade === undefined) return rejectSocket(socket, 400, 'Invalid Upgrade header');

    const checked = validateUpgradeRequest({ method: req.method ?? '', httpVersion: req.httpVersion, headers: req.headers });
    if (!checked.ok) return rejectSocket(socket, checked.status, checked.message, checked.headers);

    if (this.allowedOrigins !== null && checked.origin !== undefined && !this.allowedOrigins.has(normalizeOrigin(checked.origin))) {
      return rejectSocket(socket, 403, 'Origin not allowed');
    }
    // Reading remoteAddress makes Node keep a peer-name object and string on the socket: only when needed.
    let ip = '';
    if (this.perIpLimit > 0) {
      try {
        ip = this.options.clientAddress === undefined ? (socket.remoteAddress ?? '') : this.options.clientAddress(req);
      } catch {
        return rejectSocket(socket, 500, 'Internal Server Error');
      }
    }
    const refusal = this.admissionRefusal(ip);
    if (refusal !== null) return rejectSocket(socket, refusal.status, refusal.message, { 'Retry-After': '5' });

    let protocol = '';
    if (checked.protocols.length > 0) {
      let chosen: string | false;
      try {
        chosen = this.options.handleProtocols ? this.options.handleProtocols(checked.protocols, req) : checked.protocols[0]!;
      } catch {
        return rejectSocket(socket, 500, 'Internal Server Error');
      }
      if (chosen !== false) {
        if (!checked.protocols.includes(chosen)) return rejectSocket(socket, 500, 'Internal Server Error');
        protocol = chosen;
      }
    }
    const negotiated = this.deflate !== null ? negotiateDeflate(checked.extensions, this.deflate) : null;

    const complete = (): void => {
      this.pending.delete(socket);
      // The peer may have gone (or half-closed) while an async verifyClient ran.
      if (socket.destroyed || !socket.writable || !socket.readable || socket.readableEnded) {
        socket.destroy();
        return;
      }
      if (this.closing) return rejectSocket(socket, 503, 'Server is shutting down');
      // Admission is checked again: other handshakes may have completed while this one was verified.
      const late = this.admissionRefusal(ip);
      if (late !== null) return rejectSocket(socket, late.status, late.message, { 'Retry-After': '5' });
      let codec: MessageCodec | null = null;
      if (negotiated !== null) codec = createDeflateCodec(negotiated.params, 'server', this.deflate!);
      socket.write(
        buildUpgradeResponse({ key: checked.key, protocol: protocol || undefined, extensions: negotiated?.response }),
      );
      this.accept(socket, head, req, ip, protocol, negotiated?.response ?? '', codec, callback);
    };

    const verify = this.options.verifyClient;
    if (verify === undefined) return complete();
    const info: VerifyClientInfo = { req, origin: checked.origin, secure: isSecure(socket) };
    let verdict: boolean | Rejection | Promise<boolean | Rejection>;
    try {
      verdict = verify(info);
    } catch {
      return rejectSocket(socket, 500, 'Internal Server Error');
    }
    const settle = (value: boolean | Rejection): void => {
      if (socket.destroyed) return void this.pending.delete(socket);
      if (value === true) return complete();
      this.pending.delete(socket);
      if (value === false) return rejectSocket(socket, 401, 'Unauthorized');
      rejectSocket(socket, value.code, value.message ?? '', value.headers);
    };
    if (!(verdict instanceof Promise)) return settle(verdict);

    this.pending.add(socket);
    const timer = setTimeout(() => {
      this.pending.delete(socket);
      socket.destroy();
    }, this.handshakeTimeout);
    timer.unref();
    verdict.then(
      (value) => {
        clearTimeout(timer);
        settle(value);
      },
      () => {
        clearTimeout(timer);
        this.pending.delete(socket);
        rejectSocket(socket, 500, 'Internal Server Error');
      },
    );
  }

  /** Why a new connection from `ip` must be refused now, or null. */
  private admissionRefusal(ip: string): { status: number; message: string } | null {
    const { maxConnections = 0 } = this.options;
    if (maxConnections > 0 && this.connections >= maxConnections) return { status: 503, message: 'Too many connections' };
    if (this.perIpLimit > 0 && (this.perIp.get(ip) ?? 0) >= this.perIpLimit) {
      return { status: 429, message: 'Too many connections from this address' };
    }
    return null;
  }

  /**
   * Sends one message to every open client in {@link WebSocketServer.clients}, framing it once: each socket is
   * handed the same frame bytes (no per-client framing or copy) unless it needs its own encoding (compression
   * above the threshold, a frame size limit, a fragmented message in progress), when it falls back to `send`.
   * Each client's limits apply as with `send` (`maxBufferedAmount`, the drop policy). Needs `clientTracking`.
   *
   * @param data - A string goes as text, bytes as binary (as with `send`), or a {@link PreparedMessage} built
   * once for several broadcasts.
   * @param options - `binary` overrides the type of `data`; `except` skips one client (e.g. the sender);
   * `filter` picks clients.
   * @returns How many clients the message was queued for (sent or waiting; not those that dropped it).
   * @throws TypeError for `data` that `send` would refuse; {@link WebSocketError} `VOLLEY_ERR_INVALID_STATE` when
   * the server was made with `clientTracking: false`.
   *
   * @example
   * ```ts
   * wss.on('connection', (ws) => {
   *   ws.on('message', (data, isBinary) => wss.broadcast(data, { binary: isBinary, except: ws }));
   * });
   * ```
   */
  broadcast(
    data: string | ArrayBufferView | ArrayBuffer | PreparedMessage,
    options?: { binary?: boolean; except?: WebSocket; filter?: (ws: WebSocket) => boolean },
  ): number {
    if (this.options.clientTracking === false) {
      throw new WebSocketError(ErrorCode.INVALID_STATE, 'broadcast needs clientTracking (this server keeps no client list)');
    }
    const message = data instanceof PreparedMessage ? data : new PreparedMessage(toSendable(data), options?.binary);
    const except = options?.except;
    const filter = options?.filter;
    let queued = 0;
    for (const ws of this.clients) {
      if (ws === except || ws.readyState !== WebSocket.OPEN || (filter !== undefined && !filter(ws))) continue;
      if (ws.send(message) !== SendStatus.DROPPED) queued++;
    }
    return queued;
  }

  /**
   * Stops accepting, closes every client with 1001 (going away) and, in standalone mode, closes the HTTP server.
   * `callback` runs once every client is gone.
   */
  close(callback?: (error?: Error) => void): void {
    if (this.closed) {
      if (callback) process.nextTick(callback);
      return;
    }
    if (this.closing) {
      if (callback) this.once('close', () => callback());
      return;
    }
    this.closing = true;
    this.detach?.();
    // Handshakes still waiting on verifyClient will not complete now.
    for (const socket of this.pending) socket.destroy();
    this.pending.clear();
    const finish = () => {
      this.closed = true;
      this.emit('close');
      callback?.();
    };
    const waits: Promise<void>[] = [];
    for (const ws of this.clients) {
      waits.push(new Promise((resolve) => ws.once('close', () => resolve())));
      ws.close(CloseCode.GOING_AWAY, 'server shutting down');
    }
    const serverClosed =
      this.ownsServer && this.server !== null
        ? new Promise<void>((resolve) => this.server!.close(() => resolve()))
        : Promise.resolve();
    void Promise.all([...waits, serverClosed]).then(finish);
  }

  private accept(
    socket: Socket,
    head: Buffer,
    req: IncomingMessage,
    ip: string,
    protocol: string,
    extensions: string,
    codec: MessageCodec | null,
    callback: (ws: WebSocket, req: IncomingMessage) => void,
  ): void {
    socket.removeListener('error', destroySocket);
    const ws = new WebSocket();
    ws._attach(socket, head, { settings: this.settings, protocol, extensions, codec });
    this.connections++;
    if (this.options.clientTracking !== false) this.clients.add(ws);
    // One shared listener rather than a closure (or a once() wrapper) per connection.
    (ws as TrackedWebSocket)[kServer] = this;
    if (this.perIpLimit > 0) {
      this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
      // The key counted now is the one released on close.
      (ws as TrackedWebSocket)[kClientAddress] = ip;
    }
    ws.on('close', untrack);
    callback(ws, req);
  }

  /** @internal A tracked socket closed: release its counts. */
  _release(ws: WebSocket): void {
    this.connections--;
    this.clients.delete(ws);
    if (this.perIpLimit === 0) return;
    const ip = (ws as TrackedWebSocket)[kClientAddress]!;
    const left = (this.perIp.get(ip) ?? 1) - 1;
    if (left === 0) this.perIp.delete(ip);
    else this.perIp.set(ip, left);
  }

  private matchesPath(req: IncomingMessage): boolean {
    const path = this.options.path;
    if (path === undefined) return true;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    return (q === -1 ? url : url.slice(0, q)) === path;
  }
}

const kServer = Symbol('volley.server');
/** The address a socket was counted under for `maxConnectionsPerIp` (set only with that limit). */
const kClientAddress = Symbol('volley.clientAddress');
type TrackedWebSocket = WebSocket & { [kServer]: WebSocketServer; [kClientAddress]?: string };

function untrack(this: WebSocket): void {
  (this as TrackedWebSocket)[kServer]._release(this);
}

/** Plain HTTP requests to a standalone WebSocket server get 426 Upgrade Required (RFC 6455 §4.2.2). */
function refuseHttp(_req: IncomingMessage, res: ServerResponse): void {
  const body = 'Upgrade Required';
  res.writeHead(426, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    Connection: 'close',
  });
  res.end(body);
}

/** Answers a refused handshake and closes the socket. */
function rejectSocket(socket: Socket, status: number, message: string, headers?: Record<string, string>): void {
  if (socket.destroyed) return;
  if (socket.writable) socket.end(buildErrorResponse(status, message, headers));
  else socket.destroy();
  // A client that never reads our reply must not keep the socket open.
  socket.setTimeout(1000, () => socket.destroy());
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function isSecure(socket: Socket): boolean {
  return (socket as Socket & { encrypted?: boolean }).encrypted === true;
}

/**
 * Serialized origin for comparison: lower-case scheme and host, default ports dropped. A value that is not a
 * serialized origin (userinfo, path, query, fragment) never matches an allowlist entry.
 */
export function normalizeOrigin(origin: string): string {
  const lower = origin.trim().toLowerCase();
  if (lower === 'null') return 'null';
  try {
    const url = new URL(lower);
    const serialized = `${url.protocol}//${url.host}`;
    if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || lower.endsWith('/') || url.pathname !== '/') {
      return `invalid:${lower}`;
    }
    return serialized;
  } catch {
    return `invalid:${lower}`;
  }
}

/** WebSocketServers attached to each HTTP server, to tell when every one of them declined a socket. */
const attachedByServer = new WeakMap<object, Set<WebSocketServer>>();
/** How many attached WebSocketServers declined each socket (path mismatch). */
const declines = new WeakMap<Socket, number>();

function attachedServers(server: object): Set<WebSocketServer> {
  let set = attachedByServer.get(server);
  if (set === undefined) attachedByServer.set(server, (set = new Set()));
  return set;
}

/** Accept key helper re-exported for tests and custom servers. */
export { acceptKey };
