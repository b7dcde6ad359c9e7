/**
 * The sans-I/O WebSocket connection: bytes in, events and bytes out (RFC 6455 §5-§7, RFC 7692 §6).
 *
 * A {@link Connection} parses whatever bytes the transport hands to {@link Connection.receive}, split at any
 * byte, and reports messages, pings, pongs and the end of the connection through the {@link ConnectionEvents}
 * it was given. Everything it wants to send goes to `events.write`, in order. It owns no socket, no timer and
 * no zlib stream: compression comes in as a {@link MessageCodec} and randomness as a function.
 *
 * One function ({@link Connection.fail}) turns every peer error into the close code the RFC asks for.
 *
 * @module
 */

import { bufferView } from './buffer-view.js';
import { ChunkList } from './chunk-list.js';
import { CloseCode, MAX_CLOSE_REASON_BYTES, MAX_CONTROL_PAYLOAD, Opcode, isValidWireCloseCode } from './constants.js';
import { ErrorCode, WebSocketError, invalidArgument } from './errors.js';
import { frameHeaderSize, writeFrameHeader } from './frame-header.js';
import { applyMask, maskInto, unmaskInPlace, unmaskInto } from './mask.js';
import { unmaskWholeFrames } from './simd-mask.js';
import type { PreparedMessage } from './prepared.js';
import type { MessageCodec, Role } from './types.js';
import { Utf8Validator, isValidUtf8 } from './utf8.js';

/** Default for {@link ConnectionOptions.maxMessageSize}: 16 MiB (Autobahn 9.x sends 16 MiB messages; ws allows 100 MiB). */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;
/** Default for {@link ConnectionOptions.maxFragments} (as ws 8.21). */
export const DEFAULT_MAX_FRAGMENTS = 131_072;

/** Options of a {@link Connection}. */
export interface ConnectionOptions {
  /** Which end this is: a server never masks and requires masked frames; a client the reverse. */
  role: Role;
  /**
   * Largest message accepted, in bytes, counted after decompression. A bigger one fails the connection with 1009
   * as soon as its size is known.
   * @default 16 MiB
   */
  maxMessageSize?: number;
  /**
   * Most frames one message may span. More fail the connection with 1008.
   * @default 131072
   */
  maxFragments?: number;
  /**
   * Split outgoing messages into frames of at most this many payload bytes; 0 never splits.
   * @default 0
   */
  maxFrameSize?: number;
  /** The negotiated permessage-deflate codec, or null when no extension was agreed. @default null */
  codec?: MessageCodec | null;
  /**
   * Messages smaller than this are sent uncompressed even when a codec was agreed.
   * @default 1024
   */
  compressThreshold?: number;
  /**
   * Answer every ping with a pong carrying the same payload.
   * @default true
   */
  autoPong?: boolean;
  /** Fills a buffer with random bytes, for client masking keys. Required when `role` is `'client'`. */
  randomFill?: (buffer: Uint8Array) => void;
  /**
   * Gather small frames into one block and hand it to `events.write` only on {@link Connection.flushOutput}
   * (the I/O layer calls it once per tick), instead of one `write` per frame. `events.outputPending` says when
   * a block has started.
   * @default false
   */
  batchOutput?: boolean;
}

/** What a {@link Connection} reports. Every callback is invoked synchronously from `receive()` or a send call. */
export interface ConnectionEvents {
  /** Bytes to send to the peer, in order. The array must not be reused by the caller. */
  write(data: Uint8Array): void;
  /** A complete message. Text is delivered as validated UTF-8 bytes. */
  message(data: Buffer, isBinary: boolean): void;
  /** A ping arrived (already answered when `autoPong` is on). */
  ping(data: Buffer): void;
  /** A pong arrived. */
  pong(data: Buffer): void;
  /**
   * The connection is over at the WebSocket level: both close frames were exchanged, or it was failed. No more
   * bytes will be written or read. The transport should now close TCP (RFC 6455 §7.1.1: the server first).
   *
   * `code` and `reason` are those of the peer's close frame (1005 when it carried no code), or the code the
   * connection was failed with (then `error` is set).
   */
  closed(code: number, reason: string, error: WebSocketError | null): void;
  /** Input that was held while inflating has been processed: the transport may resume reading. */
  drained?(): void;
  /** With `batchOutput`: frames wait in a block; call {@link Connection.flushOutput} soon (e.g. next tick). */
  outputPending?(): void;
}

/**
 * The constant part of {@link ConnectionOptions}, resolved and checked once. Every connection of a server shares
 * one (one field per connection instead of nine); a Connection built from plain options resolves its own.
 * @internal
 */
export interface ConnectionSettings {
  readonly role: Role;
  readonly isServer: boolean;
  readonly maxMessageSize: number;
  readonly maxFragments: number;
  readonly maxFrameSize: number;
  readonly compressThreshold: number;
  readonly autoPong: boolean;
  readonly randomFill: ((buffer: Uint8Array) => void) | null;
  readonly batch: boolean;
}

/** Resolves and checks the constant part of `options` (its `codec` belongs to one connection and is ignored). @internal */
export function resolveConnectionSettings(options: ConnectionOptions): ConnectionSettings {
  if (options.role !== 'server' && options.role !== 'client') invalidArgument('role must be "server" or "client"');
  const settings: ConnectionSettings = {
    role: options.role,
    isServer: options.role === 'server',
    maxMessageSize: positiveInteger('maxMessageSize', options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE),
    maxFragments: positiveInteger('maxFragments', options.maxFragments, DEFAULT_MAX_FRAGMENTS),
    maxFrameSize: nonNegativeInteger('maxFrameSize', options.maxFrameSize, 0),
    compressThreshold: nonNegativeInteger('compressThreshold', options.compressThreshold, 1024),
    autoPong: options.autoPong ?? true,
    randomFill: options.randomFill ?? null,
    batch: options.batchOutput ?? false,
  };
  if (!settings.isServer && settings.randomFill === null) invalidArgument('a client connection needs randomFill for masking keys');
  return Object.freeze(settings);
}

/** How the socket layer creates a connection: settings resolved once for many, plus this connection's codec. @internal */
export interface SharedConnectionOptions {
  settings: ConnectionSettings;
  codec: MessageCodec | null;
}

/**
 * The callbacks of {@link ConnectionEvents} under underscored names, which an object with `ping`, `pong` and
 * `close` methods of its own can carry: the socket layer's WebSocket is its connection's sink, with no object in
 * between. A Connection given plain {@link ConnectionEvents} reports to them through a small adapter.
 * @internal
 */
export interface ConnectionSink {
  _write(data: Uint8Array): void;
  _message(data: Buffer, isBinary: boolean): void;
  _ping(data: Buffer): void;
  _pong(data: Buffer): void;
  _closed(code: number, reason: string, error: WebSocketError | null): void;
  _drained(): void;
  _outputPending(): void;
}

/** Reports to plain {@link ConnectionEvents}. */
class EventsSink implements ConnectionSink {
  constructor(private readonly events: ConnectionEvents) {}
  _write(data: Uint8Array): void {
    this.events.write(data);
  }
  _message(data: Buffer, isBinary: boolean): void {
    this.events.message(data, isBinary);
  }
  _ping(data: Buffer): void {
    this.events.ping(data);
  }
  _pong(data: Buffer): void {
    this.events.pong(data);
  }
  _closed(code: number, reason: string, error: WebSocketError | null): void {
    this.events.closed(code, reason, error);
  }
  _drained(): void {
    this.events.drained?.();
  }
  _outputPending(): void {
    this.events.outputPending?.();
  }
}

/** Lifecycle of a connection, changed only in {@link Connection}'s private `setState`. */
export const ConnectionState = {
  /** Messages flow both ways. */
  OPEN: 1,
  /** We sent a close frame and wait for the peer's. */
  CLOSING: 2,
  /** Both close frames exchanged, or the connection failed. */
  CLOSED: 3,
} as const;
/** One of {@link ConnectionState}. */
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

// Parser states.
const READ_HEADER = 0;
const READ_PAYLOAD = 1;

/** Combine header and payload into one write when the payload is at most this big. */
const COPY_THRESHOLD = 1024;
/**
 * A server's data frame that spans reads is unmasked straight into one buffer of its length (`frameTarget`):
 * from its first piece when it is at most this long (what a 16 KiB coalescing block of `ChunkList` would cost
 * anyway), otherwise once half of it has arrived.
 */
const ASSEMBLE_AT_ONCE = 16 * 1024;
/** Strings up to this many UTF-16 units (at most 3 UTF-8 bytes each, so under COPY_THRESHOLD) are framed in place. */
const SMALL_STRING_UNITS = Math.floor((COPY_THRESHOLD - 1) / 3);
/** Size of an output arena block (batchOutput). */
const BLOCK_SIZE = 64 * 1024;

/**
 * Where batched frames are written: one block shared by every connection of the process, filled from the
 * front and never rewritten, so a region handed to `events.write` stays valid for as long as the write needs
 * it. A connection's pending frames are one region at the block's end; when another connection wrote after
 * them, or the block is full, they are handed over first and the connection starts a new region.
 *
 * Why shared: a block per connection kept its unused rest (up to 16 KiB) alive on every connection that had
 * ever sent a frame, 160 MB for 10,000 subscribers. A full block is simply replaced; the old one is freed once
 * the writes that view it are done.
 */
const arena = { block: Buffer.allocUnsafe(0), used: 0 };
/** Bytes of randomness fetched at once for client masking keys. */
const MASK_POOL_SIZE = 4096;

/** Something to send once the codec is free, kept in order behind a pending compression. */
interface QueuedSend {
  data: Buffer;
  /** Opcode, with 0x80 set when the frame ends its message. */
  opcode: number;
  /** A ping or pong. */
  control: boolean;
}

const EMPTY = Buffer.alloc(0);
/** Shared empty queues, replaced by a real array on first use (an idle connection allocates none). */
const NO_CHUNKS: Buffer[] = [];
const NO_SENDS: QueuedSend[] = [];
/** Shared empty chunk list, replaced by a real one on the first push (never pushed to itself). */
const NO_LIST = new ChunkList();

/** `list`, or a fresh list of this connection's own in place of the shared empty one. */
function owned(list: ChunkList): ChunkList {
  return list === NO_LIST ? new ChunkList() : list;
}

/**
 * What only a connection with a negotiated codec needs, in one object (an uncompressed connection keeps none of
 * it). The codec calls back later: input waits behind a running inflate, and output, our close frame included,
 * behind a running deflate.
 */
class Compression {
  /** A decompression is running: input is held until it calls back. */
  inflating = false;
  /** Input is being parsed (an inflate that calls back synchronously must not resume the held input itself). */
  inReceive = false;
  /** Input held while inflating, in order. */
  pending: Buffer[] = NO_CHUNKS;
  pendingBytes = 0;
  /** A compression is running: sends queue behind it, in order. */
  compressing = false;
  sendQueue: QueuedSend[] = NO_SENDS;
  /** Our close frame, waiting behind a pending compression (not yet on the wire). */
  closeQueued: Buffer | null = null;
  /** The peer's close, received while our queued messages still waited for the compressor. */
  peerClose: { code: number; reason: string } | null = null;

  constructor(readonly codec: MessageCodec) {}

  /** Whether output must wait (a compression runs, or sends already wait behind one). */
  get outputWaits(): boolean {
    return this.compressing || this.sendQueue.length > 0;
  }

  hold(chunk: Buffer): void {
    if (this.pending === NO_CHUNKS) this.pending = [];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  holdFront(chunk: Buffer): void {
    if (this.pending === NO_CHUNKS) this.pending = [];
    this.pending.unshift(chunk);
    this.pendingBytes += chunk.length;
  }

  queue(item: QueuedSend): void {
    if (this.sendQueue === NO_SENDS) this.sendQueue = [];
    this.sendQueue.push(item);
  }
}

/** Random bytes for a client's masking keys, fetched {@link MASK_POOL_SIZE} at a time (a server never masks). */
class MaskPool {
  bytes: Buffer = EMPTY;
  offset = 0;
}

/**
 * A WebSocket connection's protocol state, after the opening handshake.
 *
 * @example
 * ```ts
 * const conn = new Connection({ role: 'server' }, {
 *   write: (bytes) => socket.write(bytes),
 *   message: (data, isBinary) => conn.send(data, isBinary),
 *   ping() {}, pong() {},
 *   closed: () => socket.end(),
 * });
 * socket.on('data', (chunk) => conn.receive(chunk));
 * ```
 */
export class Connection {
  /** Current lifecycle state. */
  get state(): ConnectionState {
    return this._state;
  }
  /** Bytes received but held back while a decompression is pending. */
  get pendingInputBytes(): number {
    return this.compression === null ? 0 : this.compression.pendingBytes;
  }
  /** Whether a close frame was sent. */
  get closeSent(): boolean {
    return this._closeSent;
  }
  /** Whether the peer's close frame was received. */
  get closeReceived(): boolean {
    return this._closeReceived;
  }

  private _state: ConnectionState = ConnectionState.OPEN;
  private _closeSent = false;
  private _closeReceived = false;

  /** The constant options, shared with every connection of the same server. */
  private readonly settings: ConnectionSettings;
  private readonly sink: ConnectionSink;
  /** Codec and the state that waits on it; null when no extension was agreed. */
  private readonly compression: Compression | null;

  // --- parser state ---
  private parseState = READ_HEADER;
  /** Partial frame header carried over between reads (pooled: no ArrayBuffer of its own). */
  private headerBytes: Buffer | null = null;
  private headerFill = 0;
  private fin = false;
  private opcode = 0;
  /** Masking key of the current frame (every accepted frame is masked on a server, none on a client). */
  private maskKey: Buffer | null = null;
  private payloadLength = 0;
  private payloadRead = 0;
  /** Payload of the current frame when it spans reads. */
  private framePayload = NO_LIST;
  /** Payload of a control frame spanning reads (kept apart: control frames interleave with fragments). */
  private controlPayload = NO_LIST;
  /** A server's buffer of the current data frame's whole payload, unmasked into as it arrives (see frameTarget). */
  private frameBuffer: Buffer | null = null;

  // --- message assembly ---
  /** Opcode of the message being assembled (Text/Binary), 0 when none. */
  private messageOpcode = 0;
  private messageCompressed = false;
  private messageData = NO_LIST;
  private messageFragments = 0;
  /** Created when a text message first needs incremental validation (whole frames are checked at once). */
  private utf8Validator: Utf8Validator | null = null;
  private get utf8(): Utf8Validator {
    return (this.utf8Validator ??= new Utf8Validator());
  }

  // --- sending ---
  /** Whether an outgoing fragmented message (caller-driven `fin: false`) is open. */
  private sendingFragmented = false;
  /** This connection's pending region of the output arena (batchOutput): its block, start and length. */
  private outBuf: Buffer | null = null;
  private outStart = 0;
  private outLen = 0;
  /** A client's masking randomness, created on its first frame. */
  private maskPool: MaskPool | null = null;

  constructor(options: ConnectionOptions, events: ConnectionEvents);
  /** @internal The socket layer's way in: settings resolved once per server, and a sink that needs no adapter. */
  constructor(options: SharedConnectionOptions, sink: ConnectionSink);
  constructor(options: ConnectionOptions | SharedConnectionOptions, events: ConnectionEvents | ConnectionSink) {
    if ('settings' in options) {
      this.settings = options.settings;
      this.sink = events as ConnectionSink;
    } else {
      this.settings = resolveConnectionSettings(options);
      this.sink = new EventsSink(events as ConnectionEvents);
    }
    const codec = options.codec ?? null;
    this.compression = codec === null ? null : new Compression(codec);
  }

  // ------------------------------------------------------------------------------------------------ receiving

  /**
   * Feeds bytes read from the transport. The chunk may be split anywhere; masked payloads are unmasked in place,
   * so the caller must hand over ownership of `chunk`.
   */
  receive(chunk: Buffer): void {
    if (this._state === ConnectionState.CLOSED || this._closeReceived) return;
    const compression = this.compression;
    if (compression === null) {
      this.parse(chunk);
      return;
    }
    if (compression.inflating || compression.pending.length > 0) {
      compression.hold(chunk);
      return;
    }
    compression.inReceive = true;
    try {
      this.parse(chunk);
    } finally {
      compression.inReceive = false;
    }
  }

  /**
   * Reports that the transport's input ended (TCP FIN or error) without a completed close handshake. Fails the
   * connection with 1006 when it was still open.
   */
  receiveEof(): void {
    if (this._state === ConnectionState.CLOSED) return;
    const peer = this.compression?.peerClose;
    this.finish(peer?.code ?? CloseCode.ABNORMAL, peer?.reason ?? '', null);
  }

  /** Parses one chunk until it is used up or a decompression pauses parsing. */
  private parse(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    // A server's read of whole frames: their payloads unmasked in one SIMD pass, up to `unmasked`. Not with
    // compression, whose pauses hand the rest of a chunk back to be parsed again later.
    const unmasked =
      this.settings.isServer && this.compression === null && this.parseState === READ_HEADER && this.headerFill === 0 && this.messageOpcode === 0
        ? unmaskWholeFrames(chunk, this.settings.maxMessageSize)
        : 0;
    while (pos < end) {
      if (this._state === ConnectionState.CLOSED || this._closeReceived) return;
      if (this.parseState === READ_HEADER) {
        if (this.headerFill === 0 && this.messageOpcode === 0) {
          const next = this.parseWholeFrame(chunk, pos, end, pos < unmasked);
          if (next !== pos) {
            if (next < 0) return; // failed
            pos = next;
            continue;
          }
        }
        pos = this.readHeader(chunk, pos);
        if (pos < 0) return; // failed
        continue;
      }
      // READ_PAYLOAD
      const want = this.payloadLength - this.payloadRead;
      const take = want < end - pos ? want : end - pos;
      const view = bufferView(chunk, pos, pos + take);
      pos += take;
      if (!this.consumePayload(view)) return;
      const compression = this.compression;
      if (compression !== null && compression.inflating) {
        // The rest of this chunk precedes anything held already (it may come from the front of the queue).
        if (pos < end) compression.holdFront(chunk.subarray(pos));
        return;
      }
    }
  }

  /**
   * The common case in one step: an unfragmented, uncompressed text or binary frame of at most 64 KiB that lies
   * wholly in `chunk` at `pos`, outside a fragmented message. Returns the position after it, -1 when the
   * connection failed, or `pos` unchanged when the frame is anything else (the general parser takes it).
   *
   * Equivalent to the general path (same checks, same errors) without its per-frame state: no header fields
   * stored, no chunk lists, no incremental UTF-8 state.
   *
   * `unmasked`: the frame was unmasked already by {@link unmaskWholeFrames}, which left in the first key byte
   * whether the payload is ASCII. Every frame that function unmasks is one this function takes.
   */
  private parseWholeFrame(chunk: Buffer, pos: number, end: number, unmasked: boolean): number {
    if (end - pos < 2) return pos;
    const b0 = chunk[pos]!;
    // FIN set, RSV1-3 clear, Text or Binary.
    if (b0 !== 0x81 && b0 !== 0x82) return pos;
    const b1 = chunk[pos + 1]!;
    const masked = (b1 & 0x80) !== 0;
    const settings = this.settings;
    if (masked !== settings.isServer) return pos;
    let length = b1 & 0x7f;
    let start = pos + 2;
    if (length === 126) {
      if (end - pos < 4) return pos;
      length = (chunk[pos + 2]! << 8) | chunk[pos + 3]!;
      start = pos + 4;
    } else if (length === 127) {
      return pos;
    }
    const maskAt = start;
    if (masked) start += 4;
    const frameEnd = start + length;
    if (frameEnd > end || length > settings.maxMessageSize) return pos;
    const payload = length === 0 ? EMPTY : bufferView(chunk, start, frameEnd);
    const isText = b0 === 0x81;
    let ascii: boolean;
    if (unmasked) {
      ascii = chunk[maskAt] === 1;
    } else {
      if (masked) unmaskInPlace(chunk, start, frameEnd, maskAt);
      ascii = isText && isAscii(chunk, start, frameEnd);
    }
    if (isText && !ascii && !isValidUtf8(payload)) {
      this.invalidUtf8();
      return -1;
    }
    this.sink._message(payload, !isText);
    return frameEnd;
  }

  /** Reads a frame header from `chunk` at `pos`; returns the new position, or -1 when the connection failed. */
  private readHeader(chunk: Buffer, pos: number): number {
    const end = chunk.length;
    let header: Buffer;
    let base: number;
    if (this.headerFill === 0 && end - pos >= 2) {
      const need = headerLength(chunk[pos + 1]!);
      if (end - pos >= need) {
        header = chunk;
        base = pos;
        pos += need;
      } else {
        chunk.copy((this.headerBytes ??= Buffer.allocUnsafe(14)), 0, pos, end);
        this.headerFill = end - pos;
        return end;
      }
    } else {
      // Carry-over: complete the header byte by byte from this chunk.
      const hb = (this.headerBytes ??= Buffer.allocUnsafe(14));
      while (this.headerFill < 2 && pos < end) hb[this.headerFill++] = chunk[pos++]!;
      if (this.headerFill < 2) return end;
      const need = headerLength(hb[1]!);
      const copy = Math.min(need - this.headerFill, end - pos);
      chunk.copy(hb, this.headerFill, pos, pos + copy);
      this.headerFill += copy;
      pos += copy;
      if (this.headerFill < need) return end;
      this.headerFill = 0;
      header = hb;
      base = 0;
    }
    return this.decodeHeader(header, base) ? pos : -1;
  }

  /** Validates a complete header and prepares to read its payload. Returns false when the connection failed. */
  private decodeHeader(h: Buffer, at: number): boolean {
    const b0 = h[at]!;
    const b1 = h[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let next = at + 2;

    // RFC 6455 §5.2: "RSV1, RSV2, RSV3: MUST be 0 unless an extension is negotiated that defines meanings".
    if ((b0 & 0x30) !== 0) return this.protocolError('RSV2 and RSV3 must be clear');

    const isControl = (opcode & 0x08) !== 0;
    if (isControl) {
      if (opcode !== Opcode.Close && opcode !== Opcode.Ping && opcode !== Opcode.Pong) {
        return this.protocolError(`reserved opcode 0x${opcode.toString(16)}`);
      }
      // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented."
      if (!fin) return this.protocolError('control frames must not be fragmented');
      if (length > MAX_CONTROL_PAYLOAD) return this.protocolError('control frame payload exceeds 125 bytes');
      // RFC 7692 §6.1: RSV1 is only valid on the first frame of a data message.
      if (rsv1) return this.protocolError('RSV1 must be clear on control frames');
    } else if (opcode === Opcode.Continuation) {
      if (this.messageOpcode === 0) return this.protocolError('continuation frame without a message to continue');
      if (rsv1) return this.protocolError('RSV1 must be clear on continuation frames');
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.messageOpcode !== 0) return this.protocolError('new data frame inside a fragmented message');
      if (rsv1 && this.compression === null) return this.protocolError('RSV1 set but no extension was negotiated');
    } else {
      return this.protocolError(`reserved opcode 0x${opcode.toString(16)}`);
    }

    // §5.1: a server MUST fail the connection on an unmasked client frame; a client on a masked server frame.
    const settings = this.settings;
    if (masked !== settings.isServer) {
      return this.protocolError(settings.isServer ? 'client frames must be masked' : 'server frames must not be masked');
    }

    if (length === 126) {
      length = h.readUInt16BE(next);
      next += 2;
    } else if (length === 127) {
      const high = h.readUInt32BE(next);
      const low = h.readUInt32BE(next + 4);
      next += 8;
      // §5.2: "the most significant bit MUST be 0".
      if (high > 0x7fffffff) return this.fail(ErrorCode.INVALID_LENGTH, 'payload length has its MSB set', CloseCode.PROTOCOL_ERROR);
      // Past 2^53 the length cannot even be represented; far past any limit anyway.
      if (high > 0x1fffff) return this.tooBig();
      length = high * 0x1_0000_0000 + low;
    }
    if (masked) {
      const key = (this.maskKey ??= Buffer.allocUnsafe(4));
      key[0] = h[next]!;
      key[1] = h[next + 1]!;
      key[2] = h[next + 2]!;
      key[3] = h[next + 3]!;
    }

    if (!isControl) {
      if (opcode !== Opcode.Continuation) {
        this.messageOpcode = opcode;
        this.messageCompressed = rsv1;
        this.messageFragments = 0;
      }
      if (++this.messageFragments > settings.maxFragments) {
        return this.fail(ErrorCode.TOO_MANY_FRAGMENTS, `message spans more than ${settings.maxFragments} frames`, CloseCode.POLICY_VIOLATION);
      }
      // Limit checked as soon as the length is known, before any payload is buffered. Compressed payloads are
      // checked again on their inflated size.
      if (this.messageData.length + length > settings.maxMessageSize && !this.messageCompressed) return this.tooBig();
      if (this.messageCompressed && length > settings.maxMessageSize) return this.tooBig();
    }

    this.fin = fin;
    this.opcode = opcode;
    this.payloadLength = length;
    this.payloadRead = 0;
    this.parseState = READ_PAYLOAD;
    if (length === 0) return this.frameComplete(EMPTY);
    return true;
  }

  /** Takes payload bytes of the current frame; returns false when the connection failed. */
  private consumePayload(view: Buffer): boolean {
    const isControl = (this.opcode & 0x08) !== 0;
    const read = this.payloadRead;
    // Only masked frames got this far on a server (decodeHeader), only unmasked ones on a client.
    const isServer = this.settings.isServer;
    const target = isServer && !isControl ? this.frameTarget(view.length) : null;
    if (target !== null) unmaskInto(view, this.maskKey!, read, target, read);
    else if (isServer) applyMask(view, this.maskKey!, read);
    // Fail fast on invalid UTF-8, even before the frame is complete (Autobahn 6.4.3/6.4.4).
    if (!isControl && this.messageOpcode === Opcode.Text && !this.messageCompressed) {
      if (!this.utf8.update(target === null ? view : bufferView(target, read, read + view.length))) return this.invalidUtf8();
    }
    const whole = read === 0 && view.length === this.payloadLength;
    this.payloadRead = read + view.length;
    if (whole) return this.frameComplete(view);
    if (target !== null) {
      if (this.payloadRead < this.payloadLength) return true;
      this.frameBuffer = null;
      return this.frameComplete(target);
    }
    const list = isControl ? (this.controlPayload = owned(this.controlPayload)) : (this.framePayload = owned(this.framePayload));
    list.push(view);
    if (this.payloadRead < this.payloadLength) return true;
    return this.frameComplete(list.take());
  }

  /**
   * Where a server unmasks `size` more payload bytes of a data frame that spans reads: into one buffer of the
   * frame's full length, which the pieces would otherwise be copied into when the frame completes. A frame of at
   * most {@link ASSEMBLE_AT_ONCE} bytes gets it with its first piece; a longer one once at least half of its
   * payload has arrived, so that it is never more than twice what was received (a peer cannot make us allocate
   * much by announcing a length alone). Pieces held until then are moved into it. Null: unmask the piece in
   * place and keep it in `framePayload`.
   */
  private frameTarget(size: number): Buffer | null {
    if (this.frameBuffer !== null) return this.frameBuffer;
    const length = this.payloadLength;
    const read = this.payloadRead;
    // A frame whole in this piece needs no buffer of its own.
    if ((read === 0 && size === length) || (length > ASSEMBLE_AT_ONCE && (read + size) * 2 < length)) return null;
    const buffer = Buffer.allocUnsafe(length);
    if (read > 0) this.framePayload.moveTo(buffer);
    this.frameBuffer = buffer;
    return buffer;
  }

  /** Handles a frame whose payload is complete. */
  private frameComplete(payload: Buffer): boolean {
    this.parseState = READ_HEADER;
    switch (this.opcode) {
      case Opcode.Ping:
        return this.onPing(payload);
      case Opcode.Pong:
        this.sink._pong(payload);
        return this._state !== ConnectionState.CLOSED;
      case Opcode.Close:
        return this.onCloseFrame(payload);
      default:
        return this.onDataFrame(payload);
    }
  }

  private onPing(payload: Buffer): boolean {
    if (this.settings.autoPong && this._state === ConnectionState.OPEN) this.sendControl(Opcode.Pong, payload);
    this.sink._ping(payload);
    return this._state !== ConnectionState.CLOSED;
  }

  private onDataFrame(payload: Buffer): boolean {
    if (this.messageCompressed) {
      const fin = this.fin;
      const limit = this.settings.maxMessageSize - this.messageData.length;
      // RSV1 is refused without a codec (decodeHeader).
      const compression = this.compression!;
      compression.inflating = true;
      compression.codec.decompress(payload, fin, limit, (error, data) => this.onInflated(error, data, fin));
      return this._state !== ConnectionState.CLOSED;
    }
    if (!this.fin) {
      this.messageList().push(payload);
      return true;
    }
    let data = payload;
    if (this.messageData.length > 0) {
      this.messageList().push(payload);
      data = this.messageData.take();
    }
    return this.deliver(data);
  }

  private onInflated(error: Error | null, data: Uint8Array | undefined, fin: boolean): void {
    const compression = this.compression!;
    if (!compression.inflating) return; // the connection was torn down meanwhile
    compression.inflating = false;
    if (error !== null) {
      const code = error instanceof WebSocketError ? error.code : ErrorCode.INFLATE_FAILED;
      const closeCode = error instanceof WebSocketError && error.closeCode ? error.closeCode : CloseCode.INVALID_DATA;
      this.fail(code, error.message, closeCode);
      return;
    }
    const chunk = data === undefined ? EMPTY : toBuffer(data);
    if (this.messageData.length + chunk.length > this.settings.maxMessageSize) {
      this.tooBig();
      return;
    }
    let ok = true;
    if (this.messageOpcode === Opcode.Text && !this.utf8.update(chunk)) ok = this.invalidUtf8();
    if (ok) {
      if (!fin) this.messageList().push(chunk);
      else if (this.messageData.length === 0) ok = this.deliver(chunk);
      else {
        this.messageList().push(chunk);
        ok = this.deliver(this.messageData.take());
      }
    }
    if (!compression.inReceive) this.resumeHeld(compression);
  }

  /** Re-parses input held during a decompression, until it is used up or another decompression pauses it. */
  private resumeHeld(compression: Compression): void {
    compression.inReceive = true;
    try {
      while (compression.pending.length > 0 && !compression.inflating && this._state !== ConnectionState.CLOSED) {
        const chunk = compression.pending.shift()!;
        compression.pendingBytes -= chunk.length;
        this.parse(chunk);
      }
    } finally {
      compression.inReceive = false;
    }
    if (!compression.inflating) {
      compression.pending = NO_CHUNKS;
      compression.pendingBytes = 0;
      this.sink._drained();
    }
  }

  private messageList(): ChunkList {
    return (this.messageData = owned(this.messageData));
  }

  /** Delivers a complete data message. */
  private deliver(data: Buffer): boolean {
    const isText = this.messageOpcode === Opcode.Text;
    this.messageOpcode = 0;
    this.messageFragments = 0;
    if (isText) {
      // §8.1: a text message must be valid UTF-8 as a whole (a sequence cut at the end is invalid).
      const v = this.utf8Validator;
      const valid = v === null || v.complete;
      v?.reset();
      if (!valid) return this.invalidUtf8();
    }
    this.sink._message(data, !isText);
    return this._state !== ConnectionState.CLOSED;
  }

  private onCloseFrame(payload: Buffer): boolean {
    let code: number = CloseCode.NO_STATUS;
    let reason = '';
    if (payload.length === 1) return this.fail(ErrorCode.INVALID_CLOSE_CODE, 'close frame with a 1-byte payload', CloseCode.PROTOCOL_ERROR);
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidWireCloseCode(code)) {
        return this.fail(ErrorCode.INVALID_CLOSE_CODE, `invalid close code ${code}`, CloseCode.PROTOCOL_ERROR);
      }
      const reasonBytes = payload.subarray(2);
      if (!isValidUtf8(reasonBytes)) return this.invalidUtf8();
      reason = reasonBytes.toString('utf8');
    }
    this._closeReceived = true;
    // §5.5.1: "the endpoint MUST send a Close frame in response ... typically echoing the status code it received".
    const echo = code === CloseCode.NO_STATUS ? EMPTY : Buffer.from(payload.subarray(0, 2));
    const compression = this.compression;
    if (compression !== null && compression.outputWaits) {
      // Messages send() accepted still wait for the compressor: they go out first, then the close, then the end.
      if (compression.closeQueued === null && !this._closeSent) compression.closeQueued = echo;
      if (this._state === ConnectionState.OPEN) this.setState(ConnectionState.CLOSING);
      compression.peerClose = { code, reason };
      this.resetReceive();
      return false;
    }
    const queued = compression === null ? null : compression.closeQueued;
    if (queued !== null) this.sendCloseFrame(queued);
    else if (!this._closeSent) this.sendCloseFrame(echo);
    this.finish(code, reason, null);
    return false;
  }

  // -------------------------------------------------------------------------------------------------- failing

  /**
   * Fails the connection (RFC 6455 §7.1.7): sends a close frame with `closeCode` unless one was sent, stops
   * reading, and reports `closed` with the error. Every peer error goes through here.
   */
  fail(code: ErrorCode, message: string, closeCode: number): false {
    if (this._state === ConnectionState.CLOSED) return false;
    const error = new WebSocketError(code, message, closeCode);
    // §7.1.7: send a close frame with the error's code, unless ours is already on the wire.
    if (!this._closeSent) this.sendCloseFrame(encodeClosePayload(closeCode, ''));
    this.finish(closeCode, '', error);
    return false;
  }

  private protocolError(message: string): false {
    return this.fail(ErrorCode.PROTOCOL, message, CloseCode.PROTOCOL_ERROR);
  }

  private invalidUtf8(): false {
    return this.fail(ErrorCode.INVALID_UTF8, 'invalid UTF-8 in text message or close reason', CloseCode.INVALID_DATA);
  }

  private tooBig(): false {
    return this.fail(ErrorCode.PAYLOAD_TOO_BIG, `message exceeds maxMessageSize (${this.settings.maxMessageSize} bytes)`, CloseCode.MESSAGE_TOO_BIG);
  }

  private finish(code: number, reason: string, error: WebSocketError | null): void {
    this.flushOutput();
    this.setState(ConnectionState.CLOSED);
    this.resetReceive();
    const compression = this.compression;
    if (compression !== null) {
      compression.sendQueue = NO_SENDS;
      compression.codec.close();
    }
    this.sink._closed(code, reason, error);
  }

  private resetReceive(): void {
    const compression = this.compression;
    if (compression !== null) {
      compression.inflating = false;
      compression.pending = NO_CHUNKS;
      compression.pendingBytes = 0;
    }
    this.messageData.clear();
    this.framePayload.clear();
    this.controlPayload.clear();
    this.frameBuffer = null;
    this.messageOpcode = 0;
    this.utf8Validator?.reset();
  }

  private setState(state: ConnectionState): void {
    this._state = state;
  }

  // -------------------------------------------------------------------------------------------------- sending

  /**
   * Sends a data message. `data` as a string is sent as text; bytes are sent as binary unless `isBinary` is
   * false (then they must be valid UTF-8: the caller's responsibility, not re-checked).
   *
   * With `fin: false` the message stays open and the next `send` calls continue it (the caller fragments).
   * Returns false when the connection is no longer open (nothing is sent; not an error, as in WHATWG).
   */
  send(data: string | Uint8Array, isBinary?: boolean, fin = true): boolean {
    const settings = this.settings;
    // An echo or a broadcast of small bytes: one unmasked frame copied straight into the output block.
    if (settings.isServer && settings.batch && fin && data instanceof Uint8Array && data.length <= COPY_THRESHOLD && !this.sendingFragmented) {
      if (this._state !== ConnectionState.OPEN) return false;
      if (this.fitsOneUncompressedFrame(data.length)) {
        this.writeSmallBytes(isBinary === false ? Opcode.Text : Opcode.Binary, data);
        return true;
      }
    }
    let bytes: Buffer;
    let binary: boolean;
    if (typeof data === 'string') {
      // Small text goes straight into the output block: no intermediate Buffer, no second copy.
      const small = settings.batch && data.length <= SMALL_STRING_UNITS;
      if (small && this._state === ConnectionState.OPEN && this.fitsOneUncompressedFrame(SMALL_STRING_UNITS * 3)) {
        const opcode = this.sendingFragmented ? Opcode.Continuation : isBinary === true ? Opcode.Binary : Opcode.Text;
        this.sendingFragmented = !fin;
        this.writeSmallString(opcode, fin, data);
        return true;
      }
      bytes = Buffer.from(data, 'utf8');
      binary = isBinary ?? false;
    } else if (data instanceof Uint8Array) {
      bytes = toBuffer(data);
      binary = isBinary ?? true;
    } else {
      invalidArgument('data must be a string or a Uint8Array');
    }
    if (this._state !== ConnectionState.OPEN) return false;
    const opcode = this.sendingFragmented ? Opcode.Continuation : binary ? Opcode.Binary : Opcode.Text;
    this.sendingFragmented = !fin;
    const compression = this.compression;
    if (compression !== null && compression.outputWaits) {
      compression.queue({ data: bytes, opcode: fin ? opcode | 0x80 : opcode, control: false });
      return true;
    }
    this.sendData(bytes, opcode, fin);
    return true;
  }

  /**
   * Sends a {@link PreparedMessage}: a server hands its frame on as it is (no framing, no copy) when nothing
   * requires another encoding (a client's mask, compression, a frame size limit, a fragmented message in
   * progress); otherwise the payload goes through {@link Connection.send}. Either way the bytes on the wire are
   * those of `send(message.payload, message.binary)`. Returns false when the connection is not open.
   */
  sendPrepared(message: PreparedMessage): boolean {
    if (this._state !== ConnectionState.OPEN) return false;
    if (!this.settings.isServer || this.sendingFragmented || !this.fitsOneUncompressedFrame(message.payload.length)) {
      return this.send(message.payload, message.binary);
    }
    // Whatever is batched goes first, then the shared frame itself.
    this.flushOutput();
    this.sink._write(message.frame);
    return true;
  }

  /** Sends a ping. `data` is at most 125 bytes. Returns false when the connection is not open. */
  ping(data: string | Uint8Array = EMPTY): boolean {
    return this.sendUserControl(Opcode.Ping, data);
  }

  /** Sends an unsolicited pong (a heartbeat that needs no answer). Returns false when the connection is not open. */
  pong(data: string | Uint8Array = EMPTY): boolean {
    return this.sendUserControl(Opcode.Pong, data);
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2). `code` must be 1000 or 3000-4999 (or another code valid on
   * the wire); `reason` at most 123 bytes of UTF-8. Throws on a bad argument; does nothing when a close was
   * already sent.
   */
  close(code?: number, reason?: string): void {
    let payload: Buffer = EMPTY;
    if (code !== undefined) {
      if (!Number.isInteger(code) || !isValidWireCloseCode(code)) invalidArgument(`invalid close code: ${String(code)}`);
      if (reason !== undefined && typeof reason !== 'string') invalidArgument('reason must be a string');
      payload = encodeClosePayload(code, reason ?? '');
    } else if (reason !== undefined && reason !== '') {
      invalidArgument('a close reason needs a close code');
    }
    const compression = this.compression;
    if (this._closeSent || this._state === ConnectionState.CLOSED || (compression !== null && compression.closeQueued !== null)) return;
    if (compression !== null && compression.outputWaits) {
      // Keep order: the close goes out after the messages already queued.
      compression.closeQueued = payload;
      this.setState(ConnectionState.CLOSING);
      return;
    }
    this.sendCloseFrame(payload);
  }

  private sendUserControl(opcode: number, data: string | Uint8Array): boolean {
    let bytes: Buffer;
    if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
    else if (data instanceof Uint8Array) bytes = toBuffer(data);
    else invalidArgument('data must be a string or a Uint8Array');
    if (bytes.length > MAX_CONTROL_PAYLOAD) invalidArgument('control frame payload must be at most 125 bytes');
    if (this._state !== ConnectionState.OPEN) return false;
    const compression = this.compression;
    if (compression !== null && compression.outputWaits) {
      compression.queue({ data: Buffer.from(bytes), opcode, control: true });
      return true;
    }
    this.sendControl(opcode, bytes);
    return true;
  }

  private sendCloseFrame(payload: Buffer): void {
    this._closeSent = true;
    if (this.compression !== null) this.compression.closeQueued = null;
    if (this._state === ConnectionState.OPEN) this.setState(ConnectionState.CLOSING);
    this.writeFrame(Opcode.Close, true, false, payload);
  }

  private sendControl(opcode: number, payload: Buffer): void {
    this.writeFrame(opcode, true, false, payload);
  }

  private sendData(bytes: Buffer, opcode: number, fin: boolean): void {
    const compression = this.compression;
    // Compression applies to whole messages only; a caller-fragmented message goes out uncompressed.
    if (compression !== null && fin && opcode !== Opcode.Continuation && bytes.length >= this.settings.compressThreshold) {
      compression.compressing = true;
      compression.codec.compress(bytes, (error, compressed) => this.onCompressed(compression, error, compressed, opcode));
      return;
    }
    this.writeMessage(bytes, opcode, fin, false);
  }

  private onCompressed(compression: Compression, error: Error | null, compressed: Uint8Array | undefined, opcode: number): void {
    if (!compression.compressing) return;
    compression.compressing = false;
    if (error !== null || compressed === undefined) {
      this.fail(ErrorCode.INFLATE_FAILED, 'compression failed', CloseCode.INTERNAL_ERROR);
      return;
    }
    this.writeMessage(toBuffer(compressed), opcode, true, true);
    this.flushQueue(compression);
  }

  private flushQueue(compression: Compression): void {
    while (compression.sendQueue.length > 0 && !compression.compressing) {
      const item = compression.sendQueue.shift()!;
      if (item.control) this.sendControl(item.opcode, item.data);
      else this.sendData(item.data, item.opcode & 0x0f, (item.opcode & 0x80) !== 0);
    }
    if (compression.compressing) return;
    if (compression.closeQueued !== null) this.sendCloseFrame(compression.closeQueued);
    const peer = compression.peerClose;
    if (peer !== null) this.finish(peer.code, peer.reason, null);
  }

  /** Writes a message as one frame, or as several of at most `maxFrameSize` bytes. */
  private writeMessage(bytes: Buffer, opcode: number, fin: boolean, compressed: boolean): void {
    const max = this.settings.maxFrameSize;
    if (max === 0 || bytes.length <= max) {
      this.writeFrame(opcode, fin, compressed, bytes);
      return;
    }
    let offset = 0;
    let first = true;
    while (offset < bytes.length) {
      const end = Math.min(offset + max, bytes.length);
      const last = end === bytes.length;
      this.writeFrame(first ? opcode : Opcode.Continuation, last && fin, first && compressed, bytes.subarray(offset, end));
      first = false;
      offset = end;
    }
  }

  /** Frames `payload` and hands the bytes to `events.write`: one buffer when small, header + payload when large. */
  private writeFrame(opcode: number, fin: boolean, rsv1: boolean, payload: Buffer): void {
    const length = payload.length;
    const isServer = this.settings.isServer;
    if (this.settings.batch) {
      if (length <= COPY_THRESHOLD) {
        const headerSize = frameHeaderSize(length, !isServer);
        const at = this.reserve(headerSize + length);
        const block = this.outBuf!;
        if (isServer) {
          writeFrameHeader(block, at, opcode, fin, rsv1, length, null);
          payload.copy(block, at + headerSize);
        } else {
          const mask = this.nextMaskKey();
          writeFrameHeader(block, at, opcode, fin, rsv1, length, mask);
          maskInto(payload, mask, block, at + headerSize);
        }
        return;
      }
      // A large payload goes out as its own write: whatever is batched must go first.
      this.flushOutput();
    }
    if (isServer) {
      const headerSize = frameHeaderSize(length, false);
      if (length <= COPY_THRESHOLD) {
        const frame = Buffer.allocUnsafe(headerSize + length);
        writeFrameHeader(frame, 0, opcode, fin, rsv1, length, null);
        payload.copy(frame, headerSize);
        this.sink._write(frame);
      } else {
        const header = Buffer.allocUnsafe(headerSize);
        writeFrameHeader(header, 0, opcode, fin, rsv1, length, null);
        this.sink._write(header);
        this.sink._write(payload);
      }
      return;
    }
    // Client: every frame masked with a fresh key (§5.3); the caller's bytes are never modified.
    const mask = this.nextMaskKey();
    const headerSize = frameHeaderSize(length, true);
    const frame = Buffer.allocUnsafe(headerSize + length);
    writeFrameHeader(frame, 0, opcode, fin, rsv1, length, mask);
    maskInto(payload, mask, frame, headerSize);
    this.sink._write(frame);
  }

  /**
   * Hands the frames batched so far to `events.write` as one chunk. The I/O layer calls it once per tick (and
   * the connection itself before a large write and before reporting `closed`, so order is kept).
   */
  flushOutput(): void {
    const length = this.outLen;
    if (length === 0) return;
    const block = this.outBuf!;
    this.outLen = 0;
    this.outBuf = null;
    this.sink._write(bufferView(block, this.outStart, this.outStart + length));
  }

  /** Bytes batched and not yet handed to `events.write`. */
  get bufferedOutput(): number {
    return this.outLen;
  }

  /** Room for `size` bytes in the output block; returns where they go. */
  private reserve(size: number): number {
    const fits = arena.block.length - arena.used >= size;
    // Our region can only grow while it is the last one in the current block.
    if (this.outLen > 0 && !(fits && this.outBuf === arena.block && this.outStart + this.outLen === arena.used)) this.flushOutput();
    if (!fits) {
      arena.block = Buffer.allocUnsafe(Math.max(BLOCK_SIZE, size));
      arena.used = 0;
    }
    if (this.outLen === 0) {
      this.outBuf = arena.block;
      this.outStart = arena.used;
      this.sink._outputPending();
    }
    const at = arena.used;
    arena.used = at + size;
    this.outLen += size;
    return at;
  }

  /**
   * Whether a message of `length` bytes goes out now as one uncompressed frame, as the general path would send
   * it: no `maxFrameSize` splits it, it is under the compression threshold, and nothing waits for the compressor
   * ahead of it (order is kept).
   */
  private fitsOneUncompressedFrame(length: number): boolean {
    const settings = this.settings;
    const compression = this.compression;
    return (
      (settings.maxFrameSize === 0 || length <= settings.maxFrameSize) &&
      (compression === null || (!compression.outputWaits && length < settings.compressThreshold))
    );
  }

  /** Writes a short string message as one frame straight into the output block. */
  private writeSmallString(opcode: number, fin: boolean, text: string): void {
    const length = Buffer.byteLength(text, 'utf8');
    const isServer = this.settings.isServer;
    const headerSize = frameHeaderSize(length, !isServer);
    const at = this.reserve(headerSize + length);
    const block = this.outBuf!;
    const mask = isServer ? null : this.nextMaskKey();
    writeFrameHeader(block, at, opcode, fin, false, length, mask);
    block.write(text, at + headerSize, length, 'utf8');
    if (mask !== null) applyMask(block.subarray(at + headerSize, at + headerSize + length), mask, 0);
  }

  /**
   * A server's whole frame of at most {@link COPY_THRESHOLD} bytes, into the output block: `writeFrame`'s batched
   * server case specialised for `send`'s fast path (no mask, no RSV1, FIN set): going through `writeFrame` instead
   * measured ~10% slower per 16 B echo (alternating runs of the core microbenchmark, noisy machine).
   */
  private writeSmallBytes(opcode: number, data: Uint8Array): void {
    const length = data.length;
    const headerSize = length < 126 ? 2 : 4;
    let at = this.reserve(headerSize + length);
    const block = this.outBuf!;
    block[at] = 0x80 | opcode;
    if (length < 126) {
      block[at + 1] = length;
    } else {
      block[at + 1] = 126;
      block[at + 2] = length >>> 8;
      block[at + 3] = length & 0xff;
    }
    at += headerSize;
    // A byte loop beats a native copy's call overhead on a few bytes.
    if (length <= 32) for (let i = 0; i < length; i++) block[at + i] = data[i]!;
    else block.set(data, at);
  }

  private nextMaskKey(): Buffer {
    const pool = (this.maskPool ??= new MaskPool());
    if (pool.offset + 4 > pool.bytes.length) {
      // A fresh block each time: keys handed out earlier stay as they were.
      pool.bytes = Buffer.allocUnsafe(MASK_POOL_SIZE);
      this.settings.randomFill!(pool.bytes);
      pool.offset = 0;
    }
    const key = pool.bytes.subarray(pool.offset, pool.offset + 4);
    pool.offset += 4;
    return key;
  }

  /** The role this connection plays. */
  get connectionRole(): Role {
    return this.settings.role;
  }
}

/** Header length implied by the second header byte (mask bit + 7-bit length). */
function headerLength(b1: number): number {
  const len = b1 & 0x7f;
  return (len === 126 ? 4 : len === 127 ? 10 : 2) + ((b1 & 0x80) !== 0 ? 4 : 0);
}

/**
 * Encodes a close frame payload: 2-byte code + UTF-8 reason. Throws when the reason exceeds 123 bytes.
 */
export function encodeClosePayload(code: number, reason: string): Buffer {
  const reasonLength = Buffer.byteLength(reason, 'utf8');
  if (reasonLength > MAX_CLOSE_REASON_BYTES) invalidArgument('close reason must be at most 123 bytes of UTF-8');
  const payload = Buffer.allocUnsafe(2 + reasonLength);
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2, 'utf8');
  return payload;
}

/** Whether `data[start..end)` is plain ASCII; checked byte by byte only for short runs (else: false, ask UTF-8). */
function isAscii(data: Buffer, start: number, end: number): boolean {
  if (end - start > 64) return false;
  for (let i = start; i < end; i++) if (data[i]! >= 0x80) return false;
  return true;
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) invalidArgument(`${name} must be a positive integer`);
  return value;
}

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) invalidArgument(`${name} must be a non-negative integer`);
  return value;
}
