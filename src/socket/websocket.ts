/**
 * `WebSocket`: one open WebSocket over a `node:net` / `node:tls` socket, for both roles.
 *
 * On the server it is what `WebSocketServer` hands to `'connection'`; on the client `new WebSocket(url)` opens
 * one. Two interfaces over one object, as in `ws`: Node's `EventEmitter` (`on('message', (data, isBinary))`,
 * fast, bytes as Buffers) and the WHATWG one (`onmessage`, `addEventListener`, `binaryType`, `readyState`).
 *
 * The driver glues a sans-I/O {@link Connection} to the socket: every frame produced in one tick is written
 * with one syscall (cork), `send()` reports backpressure, reading pauses while decompression lags, and a
 * shared {@link Heartbeat} finds dead peers.
 *
 * @module
 */

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { CloseCode } from '../protocol/constants.js';
import { Connection, ConnectionState, resolveConnectionSettings, type ConnectionSettings, type ConnectionSink } from '../protocol/connection.js';
import { ErrorCode, WebSocketError, invalidArgument } from '../protocol/errors.js';
import { PreparedMessage } from '../protocol/prepared.js';
import type { MessageCodec, Role } from '../protocol/types.js';
import { CloseEvent, ErrorEvent, EventTargetMixin, MessageEvent, OpenEvent } from './events.js';
import type { Heartbeat, HeartbeatMember } from './heartbeat.js';
import { connectClient, type ClientOptions } from './client.js';

/** What `send()` reports. */
export const SendStatus = {
  /** Written (or queued under the high-water mark). */
  OK: 0,
  /** Queued, but the outbound buffer is above `sendHighWaterMark`: slow down until `'drain'`. */
  BACKPRESSURE: 1,
  /** Not sent: the connection is not open, or the buffer is over `maxBufferedAmount` with the `'drop'` policy. */
  DROPPED: 2,
} as const;
/** One of {@link SendStatus}. */
export type SendStatus = (typeof SendStatus)[keyof typeof SendStatus];

/** How a binary message is handed to WHATWG listeners (`onmessage`, `addEventListener`). */
export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'blob';

/** Limits and behaviour shared by server-side and client-side sockets. */
export interface WebSocketBaseOptions {
  /**
   * Largest message accepted, counted after decompression; a bigger one closes with 1009.
   * @default 16 MiB
   */
  maxMessageSize?: number;
  /**
   * Most frames one message may span; more close with 1008.
   * @default 131072
   */
  maxFragments?: number;
  /**
   * `send()` reports backpressure when more than this many bytes wait to be written.
   * @default 65536
   */
  sendHighWaterMark?: number;
  /**
   * Outbound bytes a connection may hold before the `backpressurePolicy` applies (a slow consumer never grows
   * memory without bound). Above `maxMessageSize`, so a few maximal messages sent in one tick never trip it.
   * @default 64 MiB
   */
  maxBufferedAmount?: number;
  /**
   * What happens when a send would exceed `maxBufferedAmount`: `'close'` terminates the connection (1006 locally,
   * error `VOLLEY_ERR_SLOW_CONSUMER`); `'drop'` drops that message and returns `SendStatus.DROPPED`.
   * @default 'close'
   */
  backpressurePolicy?: 'close' | 'drop';
  /**
   * Held input (while decompression lags) above which the socket stops reading.
   * @default 1 MiB
   */
  inboundHighWaterMark?: number;
  /**
   * How long to wait for the peer's close frame (and, on the client, the server's TCP close) before destroying
   * the socket, in ms.
   * @default 10000
   */
  closeTimeout?: number;
  /**
   * Split outgoing messages into frames of at most this many bytes; 0 never splits.
   * @default 0
   */
  maxFrameSize?: number;
}

/** The options of one end of the protocol, from which {@link resolveSocketSettings} builds its settings. @internal */
export interface EndpointOptions extends WebSocketBaseOptions {
  role: Role;
  /** Messages smaller than this go out uncompressed (the agreed permessage-deflate threshold). */
  compressThreshold?: number;
  /** The heartbeat that watches the sockets, or null. */
  heartbeat: Heartbeat | null;
  /** Randomness for masking keys (clients). */
  randomFill?: (buffer: Uint8Array) => void;
}

/**
 * What the handshake decided for one socket, with its endpoint's settings: resolved once for all of a server's
 * sockets, or (a client) resolved here from the endpoint options. @internal
 */
export type AttachOptions = {
  protocol: string;
  extensions: string;
  codec?: MessageCodec | null;
} & ({ settings: SocketSettings } | EndpointOptions);

/** Error code reported when a slow consumer is dropped (same as `ErrorCode.SLOW_CONSUMER`). */
export const SLOW_CONSUMER = ErrorCode.SLOW_CONSUMER;

const DEFAULT_HIGH_WATER = 64 * 1024;
const DEFAULT_MAX_BUFFERED = 64 * 1024 * 1024;
const DEFAULT_INBOUND_HIGH_WATER = 1024 * 1024;
const DEFAULT_CLOSE_TIMEOUT = 10_000;
/** Batches up to this size are merged into one buffer before writing. */
const MERGE_LIMIT = 16 * 1024;

/**
 * Everything about a socket that is the same for every socket of its endpoint, resolved once: a server's sockets
 * share one object instead of a dozen fields each.
 */
export interface SocketSettings {
  readonly highWaterMark: number;
  readonly maxBuffered: number;
  readonly dropPolicy: boolean;
  readonly inboundHighWater: number;
  readonly closeTimeoutMs: number;
  /** The heartbeat watching the sockets, or null. */
  readonly heartbeat: Heartbeat | null;
  /** The protocol core's settings, shared by the sockets' Connections. */
  readonly connection: ConnectionSettings;
}

/** Resolves (and checks) the settings of `options`: a caller's bad limit throws here. */
export function resolveSocketSettings(options: EndpointOptions): SocketSettings {
  const settings: SocketSettings = {
    highWaterMark: options.sendHighWaterMark ?? DEFAULT_HIGH_WATER,
    maxBuffered: options.maxBufferedAmount ?? DEFAULT_MAX_BUFFERED,
    dropPolicy: options.backpressurePolicy === 'drop',
    inboundHighWater: options.inboundHighWaterMark ?? DEFAULT_INBOUND_HIGH_WATER,
    closeTimeoutMs: options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
    heartbeat: options.heartbeat,
    connection: resolveConnectionSettings({
      role: options.role,
      maxMessageSize: options.maxMessageSize,
      maxFragments: options.maxFragments,
      maxFrameSize: options.maxFrameSize,
      compressThreshold: options.compressThreshold,
      randomFill: options.randomFill,
      batchOutput: true,
    }),
  };
  for (const [name, value] of [
    ['sendHighWaterMark', settings.highWaterMark],
    ['maxBufferedAmount', settings.maxBuffered],
    ['inboundHighWaterMark', settings.inboundHighWater],
    ['closeTimeout', settings.closeTimeoutMs],
  ] as const) {
    if (!(value >= 0)) invalidArgument(`${name} must be a non-negative number`);
  }
  if (options.backpressurePolicy !== undefined && options.backpressurePolicy !== 'close' && options.backpressurePolicy !== 'drop') {
    invalidArgument("backpressurePolicy must be 'close' or 'drop'");
  }
  return Object.freeze(settings);
}

/** What a socket uses before its handshake completes (only the close timeout matters then). */
const DEFAULT_SETTINGS = resolveSocketSettings({ role: 'server', heartbeat: null });

// Bits of WebSocket's `flags`.
/** The application paused reading. */
const USER_PAUSED = 1;
/** Reading paused while held input waits for decompression. */
const INFLATE_PAUSED = 2;
/** A flush of this tick's frames is scheduled. */
const FLUSH_SCHEDULED = 4;
/** Inside our own 'data' handler: output produced now is written when the read has been parsed. */
const IN_READ = 8;
/** Output was produced during the current read. */
const READ_OUTPUT = 16;

/** Where a socket's shared handlers find their WebSocket. */
const kWebSocket = Symbol('volley.websocket');
type OwnedSocket = Socket & { [kWebSocket]: WebSocket };

function socketOnData(this: OwnedSocket, chunk: Buffer): void {
  this[kWebSocket]._onData(chunk);
}
function socketOnClose(this: OwnedSocket): void {
  this[kWebSocket]._onSocketClose();
}
function socketOnDrain(this: OwnedSocket): void {
  this[kWebSocket]._onDrain();
}
function socketOnError(this: OwnedSocket, error: Error): void {
  this[kWebSocket]._onSocketError(error);
}

/**
 * A WebSocket connection. Create clients with `new WebSocket(url, protocols?, options?)` (see `client.ts`);
 * server-side sockets come from `WebSocketServer`.
 */
export class WebSocket extends EventTargetMixin(EventEmitter) implements HeartbeatMember, ConnectionSink {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  // On the prototype (defined below the class), not on each instance.
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  /** The URL this client connected to; empty on server-side sockets. */
  declare url: string; // '' on the prototype (below the class): only clients carry their own
  /** The subprotocol selected during the handshake, or `''`. */
  protocol = '';
  /** The extensions agreed during the handshake (`Sec-WebSocket-Extensions` value), or `''`. */
  extensions = '';
  /** How binary messages reach WHATWG listeners. EventEmitter `'message'` listeners always get Buffers. */
  binaryType: BinaryType = 'nodebuffer';
  /**
   * The peer's address while the connection is open (read from the socket: not copied onto every connection).
   * Read it in the `'connection'` listener to keep it for later.
   */
  get remoteAddress(): string | undefined {
    return this._socket?.remoteAddress;
  }

  // HeartbeatMember
  lastSeen = 0;
  pingSentAt = 0;

  /** @internal */ _readyState: number = WebSocket.CONNECTING;
  /** @internal */ _socket: Socket | null = null;
  private conn: Connection | null = null;
  /** Frames written this tick, sent together at its end: one chunk as it is, several in an array. */
  private out: Buffer | Buffer[] | null = null;
  private outBytes = 0;
  /** USER_PAUSED, INFLATE_PAUSED, FLUSH_SCHEDULED, IN_READ, READ_OUTPUT. */
  private flags = 0;
  /** Limits, heartbeat and protocol settings shared by every socket of one server. */
  private settings: SocketSettings = DEFAULT_SETTINGS;
  private closeTimer: NodeJS.Timeout | null = null;
  private closeInfo: { code: number; reason: string; error: WebSocketError | null } | null = null;

  /**
   * Opens a client connection to `address` (`ws://`, `wss://`, or `http(s)://` mapped to them), offering
   * `protocols`. Without an address the object is a server-side socket waiting for `WebSocketServer`.
   *
   * @example
   * ```ts
   * const ws = new WebSocket('ws://127.0.0.1:8080', 'chat.v1', { headers: { Authorization: 'Bearer …' } });
   * ws.onmessage = (event) => console.log(event.data);
   * ```
   */
  constructor(address?: string | URL | null, protocols?: string | readonly string[] | ClientOptions, options?: ClientOptions) {
    super();
    // EventEmitter's own `{ __proto__: null }` table is a dictionary-mode object (184 B); this one stays fast.
    (this as unknown as { _events: object })._events = new (EventSlots as unknown as new () => object)();
    if (address === undefined || address === null) return;
    if (protocols !== undefined && typeof protocols === 'object' && !Array.isArray(protocols)) {
      options = protocols as ClientOptions;
      protocols = undefined;
    }
    connectClient(this, address, protocols as string | readonly string[] | undefined, options);
  }

  /** Connection state: CONNECTING, OPEN, CLOSING or CLOSED (WHATWG numbering). */
  get readyState(): number {
    return this._readyState;
  }

  /**
   * Bytes written earlier that the kernel has not accepted yet (excludes this tick's batch): how far the peer is
   * behind. A slow-consumer check should use this rather than `bufferedAmount`.
   */
  get writableLength(): number {
    return this._socket === null ? 0 : this._socket.writableLength;
  }

  /** Bytes queued for writing and not yet handed to the kernel. */
  get bufferedAmount(): number {
    const socket = this._socket;
    return this.outBytes + (this.conn === null ? 0 : this.conn.bufferedOutput) + (socket === null ? 0 : socket.writableLength);
  }

  /**
   * Sends a message: a string as text, bytes as binary, a `PreparedMessage` as prepared (options ignored).
   * Returns whether the bytes went out, are waiting above the high-water mark, or were dropped. Throws a
   * TypeError for other argument types (nothing is sent).
   *
   * @example
   * ```ts
   * if (ws.send(JSON.stringify(update)) === SendStatus.BACKPRESSURE) await once(ws, 'drain');
   * ```
   */
  send(data: string | ArrayBufferView | ArrayBuffer | PreparedMessage, options?: { binary?: boolean; fin?: boolean }): SendStatus {
    // A message framed once for many sockets (see WebSocketServer#broadcast): its own type applies.
    const prepared = data instanceof PreparedMessage ? data : null;
    const bytes = prepared === null ? toSendable(data) : prepared.frame;
    if (this._readyState === WebSocket.CONNECTING) {
      throw new WebSocketError(ErrorCode.INVALID_STATE, 'WebSocket is not open: readyState 0 (CONNECTING)');
    }
    const conn = this.conn;
    const socket = this._socket;
    if (conn === null || socket === null || this._readyState !== WebSocket.OPEN) return SendStatus.DROPPED;
    // What the kernel has not taken yet does not change while this call runs: read it once.
    const inSocket = socket.writableLength;
    const buffered = this.outBytes + conn.bufferedOutput + inSocket;
    // A string's UTF-8 size is at most 3 bytes per UTF-16 unit: count exactly only when that bound is too high.
    if (buffered > 0 && (typeof bytes === 'string' ? buffered + bytes.length * 3 : buffered + bytes.byteLength) > this.settings.maxBuffered) {
      const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
      // The limit is on what waits behind a slow peer: one message on an idle connection always goes.
      if (buffered + size > this.settings.maxBuffered) {
        if (this.settings.dropPolicy) return SendStatus.DROPPED;
        this.abort(new WebSocketError(ErrorCode.SLOW_CONSUMER, 'outbound buffer exceeded maxBufferedAmount'));
        return SendStatus.DROPPED;
      }
    }
    if (prepared === null) conn.send(bytes, options?.binary, options?.fin ?? true);
    else conn.sendPrepared(prepared);
    return this.outBytes + conn.bufferedOutput + inSocket > this.settings.highWaterMark ? SendStatus.BACKPRESSURE : SendStatus.OK;
  }

  /** Sends a ping (payload ≤ 125 bytes). Throws on a bad payload; does nothing when not open. */
  ping(data?: string | ArrayBufferView | ArrayBuffer): void {
    const bytes = data === undefined ? undefined : toSendable(data);
    if (this._readyState === WebSocket.CONNECTING) throw new WebSocketError(ErrorCode.INVALID_STATE, 'WebSocket is not open');
    this.conn?.ping(bytes);
  }

  /** Sends a pong (payload ≤ 125 bytes). Throws on a bad payload; does nothing when not open. */
  pong(data?: string | ArrayBufferView | ArrayBuffer): void {
    const bytes = data === undefined ? undefined : toSendable(data);
    if (this._readyState === WebSocket.CONNECTING) throw new WebSocketError(ErrorCode.INVALID_STATE, 'WebSocket is not open');
    this.conn?.pong(bytes);
  }

  /**
   * Starts the closing handshake. `code` is 1000 or 3000-4999; `reason` at most 123 bytes of UTF-8. Throws on
   * bad arguments. While connecting, the attempt is aborted.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && (code !== 1000 && (!Number.isInteger(code) || code < 3000 || code > 4999))) {
      // WHATWG: "If code is not 1000 and not in 3000-4999, throw InvalidAccessError". Library codes such as 1001
      // are allowed through `closeWithCode` by the server itself.
      if (!(Number.isInteger(code) && code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006)) {
        invalidArgument(`invalid close code: ${String(code)}`);
      }
    }
    if (this._readyState === WebSocket.CLOSED || this._readyState === WebSocket.CLOSING) return;
    if (this._readyState === WebSocket.CONNECTING) {
      this.abortHandshake?.(new WebSocketError(ErrorCode.HANDSHAKE, 'WebSocket was closed before the connection was established'));
      return;
    }
    this.conn!.close(code, reason);
    this.afterLocalClose();
  }

  /** Destroys the connection at once, without a closing handshake. */
  terminate(): void {
    if (this._readyState === WebSocket.CLOSED) return;
    if (this._readyState === WebSocket.CONNECTING) {
      this.abortHandshake?.(new WebSocketError(ErrorCode.HANDSHAKE, 'WebSocket was terminated before the connection was established'));
      return;
    }
    this._readyState = WebSocket.CLOSING;
    this._socket?.destroy();
  }

  /** Stops reading from the socket (inbound flow control). */
  pause(): void {
    this.flags |= USER_PAUSED;
    this._socket?.pause();
  }

  /** Resumes reading after {@link pause}. */
  resume(): void {
    this.flags &= ~USER_PAUSED;
    if ((this.flags & INFLATE_PAUSED) === 0) this._socket?.resume();
  }

  /** @internal Set by the client while its handshake is in progress (null on the prototype). */
  declare abortHandshake: ((error: WebSocketError) => void) | null;

  /**
   * @internal Takes over `socket` after a successful handshake. `head` holds bytes that arrived with the
   * handshake and belong to the first frames.
   */
  _attach(socket: Socket, head: Buffer | null, options: AttachOptions): void {
    this._socket = socket;
    this.protocol = options.protocol;
    this.extensions = options.extensions;
    const settings = 'settings' in options ? options.settings : resolveSocketSettings(options);
    this.settings = settings;
    // This WebSocket is the connection's sink: no object in between.
    this.conn = new Connection({ settings: settings.connection, codec: options.codec ?? null }, this);
    socket.setNoDelay(true);
    socket.setTimeout(0);
    // Shared handler functions find this WebSocket through the socket: no closures per connection.
    (socket as OwnedSocket)[kWebSocket] = this;
    // When the peer half-closes, Node ends our side too and the socket closes: a connection still open then ends
    // with 1006 in _onSocketClose. (An 'end' listener of our own would cost an array per socket.)
    socket.allowHalfOpen = false;
    socket.on('data', socketOnData);
    socket.on('close', socketOnClose);
    socket.on('drain', socketOnDrain);
    // An 'error' listener is attached before anything else can happen: no socket error may escape.
    socket.on('error', socketOnError);
    this._readyState = WebSocket.OPEN;
    const heartbeat = settings.heartbeat;
    if (heartbeat !== null) {
      this.lastSeen = performance.now();
      heartbeat.add(this);
    }
    this.emit('open');
    // Bytes that came with the handshake are parsed on the next tick, once the server has handed this socket to
    // its 'connection' listeners (and before any later read, which arrives in the I/O phase).
    if (head !== null && head.length > 0) process.nextTick(parseHead, this, head);
    if (socket.readableFlowing === null && (this.flags & USER_PAUSED) === 0) socket.resume();
  }

  // ------------------------------------------------------------------- Connection events (ConnectionSink)

  /** @internal Queues bytes for the batched write at the end of this tick. */
  _write(data: Uint8Array): void {
    const out = this.out;
    if (out === null) this.out = data as Buffer;
    else if (Array.isArray(out)) out.push(data as Buffer);
    else this.out = [out, data as Buffer];
    this.outBytes += data.byteLength;
    this._outputPending();
  }

  /** @internal Makes sure everything produced this tick is written at its end. */
  _outputPending(): void {
    const flags = this.flags;
    if ((flags & IN_READ) !== 0) {
      this.flags = flags | READ_OUTPUT;
    } else if ((flags & FLUSH_SCHEDULED) === 0) {
      this.flags |= FLUSH_SCHEDULED;
      if (flushQueue.push(this) === 1) process.nextTick(flushAll);
    }
  }

  /** @internal A message arrived. */
  _message(data: Buffer, isBinary: boolean): void {
    // One listener, the common case: called directly, without emit's rest-argument array per message (unless
    // rejections of async listeners are to become 'error' events, which only emit does).
    const listener = (this as unknown as { _events: Record<string, unknown> })._events.message;
    if (typeof listener === 'function' && !EventEmitter.captureRejections) listener.call(this, data, isBinary);
    else this.emit('message', data, isBinary);
  }

  /** @internal A ping arrived (already answered). */
  _ping(data: Buffer): void {
    this.emit('ping', data);
  }

  /** @internal A pong arrived. */
  _pong(data: Buffer): void {
    this.pingSentAt = 0;
    this.emit('pong', data);
  }

  /** @internal The WebSocket-level end: both close frames exchanged, or the connection failed. */
  _closed(code: number, reason: string, error: WebSocketError | null): void {
    this.closeInfo = { code, reason, error };
    this._readyState = WebSocket.CLOSING;
    this.settings.heartbeat?.delete(this);
    if (error !== null && this.listenerCount('error') > 0) this.emit('error', error);
    this.flush();
    const socket = this._socket;
    if (socket === null) return;
    if (this.settings.connection.isServer || error !== null) {
      // RFC 6455 §7.1.1: "the server ... SHOULD close the underlying TCP connection first". After a failure the
      // client closes too.
      socket.end();
    }
    // Whoever waits on the other side, the socket is destroyed by the close timeout at the latest.
    this.armCloseTimer();
  }

  /** @internal Held input was processed: resume reading. */
  _drained(): void {
    if ((this.flags & INFLATE_PAUSED) !== 0) {
      this.flags &= ~INFLATE_PAUSED;
      if ((this.flags & USER_PAUSED) === 0) this._socket?.resume();
    }
  }

  /** @internal Heartbeat: ping an idle peer. */
  heartbeatPing(): void {
    this.conn?.ping();
  }

  /** @internal Heartbeat: the pong never came. */
  heartbeatTimeout(): void {
    this.abort(new WebSocketError(ErrorCode.HEARTBEAT_TIMEOUT, 'no pong within pongTimeout'));
  }

  // ------------------------------------------------------------------------------------------- socket events

  /** @internal */
  _receive(chunk: Buffer): void {
    if (this.conn !== null && this.conn.state !== ConnectionState.CLOSED) this._onData(chunk);
  }

  /** @internal */
  _onData(chunk: Buffer): void {
    const settings = this.settings;
    // Any inbound byte proves the peer alive.
    if (settings.heartbeat !== null) {
      this.lastSeen = performance.now();
      this.pingSentAt = 0;
    }
    const conn = this.conn!;
    // Replies to everything in this read (an echo, a pong) go out in one write as soon as it is parsed, with no
    // tick scheduled for them. Output from a listener's later callbacks still takes the per-tick flush.
    this.flags |= IN_READ;
    try {
      conn.receive(chunk);
    } finally {
      const flags = this.flags;
      this.flags = flags & ~(IN_READ | READ_OUTPUT);
      if ((flags & READ_OUTPUT) !== 0) this.flush();
    }
    if (conn.pendingInputBytes > settings.inboundHighWater && (this.flags & INFLATE_PAUSED) === 0) {
      this.flags |= INFLATE_PAUSED;
      this._socket?.pause();
    }
  }

  /** @internal */
  _onDrain(): void {
    if (this.outBytes === 0) this.emit('drain');
  }

  /** @internal */
  _onSocketError(error: Error): void {
    // Reported through 'close' (1006); 'error' only when somebody listens, so it can never crash the process.
    if (this.closeInfo === null) {
      this.closeInfo = { code: CloseCode.ABNORMAL, reason: '', error: null };
      if (this.listenerCount('error') > 0) this.emit('error', error);
    }
    this._socket?.destroy();
  }

  /** @internal */
  _onSocketClose(): void {
    if (this._readyState === WebSocket.CLOSED) return; // 'close' was emitted
    // A connection still open ends here (1006), through _closed.
    this.conn?.receiveEof();
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.settings.heartbeat?.delete(this);
    this._readyState = WebSocket.CLOSED;
    this.out = null;
    this.outBytes = 0;
    // The code is the peer's (1005 when its close frame had none), the one we failed the connection with, or
    // 1006 when TCP ended without a close frame. Clean means both close frames were exchanged.
    const info = this.closeInfo ?? { code: CloseCode.ABNORMAL, reason: '', error: null };
    const wasClean = this.conn !== null && this.conn.closeSent && this.conn.closeReceived;
    this.emit('close', info.code, info.reason, wasClean);
  }

  /** Terminates after a local policy decision (slow consumer, missed pong). */
  private abort(error: WebSocketError): void {
    if (this.closeInfo === null) this.closeInfo = { code: CloseCode.ABNORMAL, reason: '', error };
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this._readyState = WebSocket.CLOSING;
    this._socket?.destroy();
  }

  private afterLocalClose(): void {
    if (this._readyState === WebSocket.OPEN) this._readyState = WebSocket.CLOSING;
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    // Once the socket is gone (destroyed by terminate(), a reset, the timer itself) there is nothing to wait for.
    if (this.closeTimer !== null || this._socket === null || this._socket.destroyed) return;
    this.closeTimer = setTimeout(destroyOnTimeout, this.settings.closeTimeoutMs, this);
    this.closeTimer.unref();
  }

  /** @internal Writes everything batched this tick with as few syscalls as possible. */
  flush(): void {
    // What the connection hands over now is written below: held as scheduled meanwhile, so that it does not
    // queue another pass (a wasted tick per read).
    this.flags |= FLUSH_SCHEDULED;
    this.conn?.flushOutput();
    this.flags &= ~FLUSH_SCHEDULED;
    const socket = this._socket;
    const out = this.out;
    if (out === null || socket === null) return;
    this.out = null;
    const bytes = this.outBytes;
    this.outBytes = 0;
    // Ended: the peer half-closed and Node ended our side (allowHalfOpen is off); 'close' follows.
    if (socket.destroyed || socket.writableEnded) return;
    if (!Array.isArray(out)) {
      // Behind a slow peer the chunk waits in the socket's queue: a copy keeps a view from pinning the whole
      // output block it is part of (shared by every connection) for that long. A chunk that is all of its
      // memory (a prepared broadcast frame) needs no copy.
      const copy = socket.writableLength > 0 && bytes <= MERGE_LIMIT && out.byteLength !== out.buffer.byteLength;
      socket.write(copy ? Buffer.from(out) : out);
    } else if (bytes <= MERGE_LIMIT) {
      socket.write(Buffer.concat(out, bytes));
    } else {
      socket.cork();
      for (const chunk of out) socket.write(chunk);
      socket.uncork();
    }
  }
}

for (const [name, value] of [['CONNECTING', 0], ['OPEN', 1], ['CLOSING', 2], ['CLOSED', 3]] as const) {
  Object.defineProperty(WebSocket.prototype, name, { value, enumerable: true });
}
// Rarely set fields live on the prototype: a server-side socket carries no own copy.
Object.defineProperty(WebSocket.prototype, 'url', { value: '', writable: true });
Object.defineProperty(WebSocket.prototype, 'abortHandshake', { value: null, writable: true });

/** A fast-mode listener table with no inherited keys (EventEmitter's own `{ __proto__: null }` is a dictionary). */
function EventSlots(): void {}
EventSlots.prototype = Object.create(null);

function parseHead(ws: WebSocket, head: Buffer): void {
  ws._receive(head);
}

/**
 * Sockets with output batched this tick, written by one `nextTick` for all of them: a broadcast to 10,000
 * sockets queues 10,000 entries here instead of 10,000 tick callbacks.
 */
const flushQueue: WebSocket[] = [];

function flushAll(): void {
  let i = 0;
  try {
    // Sockets queued while flushing (none today: writes report errors later) are flushed in this pass too.
    for (; i < flushQueue.length; i++) flushQueue[i]!.flush();
  } finally {
    if (i + 1 < flushQueue.length) {
      // flush() threw at i: that socket's flag is already clear; the rest still wait for a pass.
      flushQueue.splice(0, i + 1);
      process.nextTick(flushAll);
    } else {
      flushQueue.length = 0;
    }
  }
}

function destroyOnTimeout(ws: WebSocket): void {
  ws._socket?.destroy();
}

/**
 * @internal Validates a payload for `send`/`ping`/`pong`/`broadcast` (TypeError for anything else: no
 * uninitialised bytes go out).
 */
export function toSendable(data: unknown): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('data must be a string, an ArrayBuffer or an ArrayBufferView');
}

export { CloseEvent, ErrorEvent, MessageEvent, OpenEvent };
