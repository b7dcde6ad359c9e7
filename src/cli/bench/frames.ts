/**
 * Frame bytes for the load generator: masked client frames built once and reused, and a reader that counts the
 * frames a server sends by their headers alone. Payloads are never decoded; the reader only looks at the 8-byte
 * send stamp (see `stamp.ts`) and, for Socket.IO, hub and control frames, the first payload bytes (hub
 * `publication` pushes: see `hub-wire.ts`).
 *
 * Masked frames are handled too: the raw `node:net` echo used as a floor sends the client's own masked frames back.
 *
 * @module
 */

import { HUB_HEAD_SIZE, NOT_PUBLICATION, publicationStamp } from './hub-wire.js';
import type { LatencyRecorder } from './latency.js';
import { STAMP_SIZE, decodeStamp } from './stamp.js';
import type { Wire } from './target.js';

/** WebSocket opcodes used here (RFC 6455 §5.2). */
export const Op = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** Builds one masked client frame (FIN set) of `payload` with the 4-byte `key`. */
export function buildMaskedFrame(opcode: number, payload: Uint8Array, key: Uint8Array): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const headerSize = 2 + lengthBytes + 4;
  const frame = Buffer.allocUnsafe(headerSize + length);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) frame[1] = 0x80 | length;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  const k = 2 + lengthBytes;
  frame[k] = key[0]!;
  frame[k + 1] = key[1]!;
  frame[k + 2] = key[2]!;
  frame[k + 3] = key[3]!;
  for (let i = 0; i < length; i++) frame[headerSize + i] = payload[i]! ^ key[i & 3]!;
  return frame;
}

/** Offset of the payload in a frame built by {@link buildMaskedFrame}. */
export function payloadOffset(payloadLength: number): number {
  return 2 + (payloadLength < 126 ? 0 : payloadLength < 0x10000 ? 2 : 8) + 4;
}

/** What a {@link FrameReader} reports besides counting. */
export interface ReaderOptions {
  /** Payload offset of the send stamp in data messages (a multiple of 4). */
  stampOffset: number;
  /**
   * What the server speaks. `socketio`: only text frames starting with `42` are messages; `volley-hub`: only
   * `publication` pushes are. Other text frames go to `control`.
   */
  wire: Wire;
  /** Where stamps are recorded; null ignores them. */
  latency: LatencyRecorder | null;
  /**
   * A control frame, a Socket.IO packet other than an event, or a hub message other than a publication (a
   * reply, another push): `head` holds its first (unmasked) payload bytes.
   */
  control(opcode: number, head: Buffer, length: number): void;
}

const READ_HEADER = 0;
const READ_PAYLOAD = 1;
const CHAR_4 = 0x34;
const CHAR_2 = 0x32;
/** {@link FrameReader} `startMessage`: the frame went to `control`, it is no data message. */
const NOT_A_MESSAGE = -2;

/**
 * Counts complete data messages in a stream of frames split anywhere. Frames entirely inside one read are handled
 * in place; only frames that span reads go through the byte-carrying slow path.
 */
export class FrameReader {
  /** Complete data messages seen so far. */
  messages = 0;

  private readonly stampOffset: number;
  private readonly wire: Wire;
  private readonly latency: LatencyRecorder | null;
  private readonly onControl: ReaderOptions['control'];

  private state = READ_HEADER;
  private readonly header = Buffer.alloc(14);
  private headerFill = 0;
  // The frame being read across reads.
  private opcode = 0;
  private fin = false;
  private mask = 0;
  private length = 0;
  private read = 0;
  private readonly head = Buffer.alloc(HUB_HEAD_SIZE);
  private headWant = 0;
  // The message being assembled (fragmented messages keep their first frame's stamp).
  private messageStamp = -1;
  private inMessage = false;
  // Messages with the same stamp, recorded together.
  private runStamp = -1;
  private runCount = 0;
  // The last stamp decoded, and its raw bytes and mask (-1: none; raw words are never negative).
  private rawHi = -1;
  private rawLo = -1;
  private rawMask = -1;
  private rawStamp = -1;

  constructor(options: ReaderOptions) {
    this.stampOffset = options.stampOffset;
    this.wire = options.wire;
    this.latency = options.latency;
    this.onControl = options.control;
  }

  /** Parses `buf[start..end)`. The bytes may be reused by the caller afterwards. */
  feed(buf: Uint8Array, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      if (this.state === READ_HEADER) {
        if (this.headerFill === 0 && end - pos >= 2) {
          const b1 = buf[pos + 1]!;
          const size = headerSize(b1);
          if (end - pos >= size) {
            const b0 = buf[pos]!;
            let length = b1 & 0x7f;
            let at = pos + 2;
            if (length === 126) {
              length = (buf[at]! << 8) | buf[at + 1]!;
              at += 2;
            } else if (length === 127) {
              length = readUInt32(buf, at) * 0x1_0000_0000 + readUInt32(buf, at + 4);
              at += 8;
            }
            let mask = 0;
            if ((b1 & 0x80) !== 0) {
              mask = readUInt32(buf, at);
              at += 4;
            }
            if (end - at >= length) {
              this.complete(b0 & 0x0f, (b0 & 0x80) !== 0, length, buf, at, mask, length);
              pos = at + length;
            } else {
              this.begin(b0, length, mask);
              pos = at;
            }
            continue;
          }
        }
        pos = this.carryHeader(buf, pos, end);
        continue;
      }
      // READ_PAYLOAD: only the first bytes (stamp, Socket.IO prefix, control payload) are kept.
      const left = this.length - this.read;
      const take = left < end - pos ? left : end - pos;
      if (this.read < this.headWant) {
        const n = Math.min(this.headWant - this.read, take);
        const mask = this.mask;
        for (let i = 0; i < n; i++) {
          const j = this.read + i;
          this.head[j] = buf[pos + i]! ^ ((mask >>> (24 - 8 * (j & 3))) & 0xff);
        }
      }
      this.read += take;
      pos += take;
      if (this.read === this.length) {
        this.state = READ_HEADER;
        this.complete(this.opcode, this.fin, this.length, this.head, 0, 0, this.headWant);
      }
    }
    this.flushRun();
  }

  /** Completes a header split across reads, byte by byte; returns the new position. */
  private carryHeader(buf: Uint8Array, pos: number, end: number): number {
    const h = this.header;
    while (this.headerFill < 2 && pos < end) h[this.headerFill++] = buf[pos++]!;
    if (this.headerFill < 2) return pos;
    const size = headerSize(h[1]!);
    while (this.headerFill < size && pos < end) h[this.headerFill++] = buf[pos++]!;
    if (this.headerFill < size) return pos;
    this.headerFill = 0;
    let length = h[1]! & 0x7f;
    let at = 2;
    if (length === 126) {
      length = h.readUInt16BE(2);
      at = 4;
    } else if (length === 127) {
      length = h.readUInt32BE(2) * 0x1_0000_0000 + h.readUInt32BE(6);
      at = 10;
    }
    const mask = (h[1]! & 0x80) !== 0 ? h.readUInt32BE(at) : 0;
    if (length === 0) this.complete(h[0]! & 0x0f, (h[0]! & 0x80) !== 0, 0, h, 0, 0, 0);
    else this.begin(h[0]!, length, mask);
    return pos;
  }

  private begin(b0: number, length: number, mask: number): void {
    this.state = READ_PAYLOAD;
    this.opcode = b0 & 0x0f;
    this.fin = (b0 & 0x80) !== 0;
    this.mask = mask;
    this.length = length;
    this.read = 0;
    this.headWant = Math.min(length, this.opcode >= 8 ? 125 : this.wire === 'volley-hub' ? HUB_HEAD_SIZE : this.stampOffset + STAMP_SIZE);
  }

  /**
   * A whole frame of `length` bytes: its payload starts at `src[at]`, masked with `mask`; `available` of its
   * bytes are there (all of them, or the head kept while it spanned reads).
   */
  private complete(opcode: number, fin: boolean, length: number, src: Uint8Array, at: number, mask: number, available: number): void {
    if (opcode >= 8) {
      this.onControl(opcode, this.copyHead(src, at, Math.min(length, 125), mask), length);
      return;
    }
    if (opcode !== Op.CONT) {
      const stamp = this.startMessage(opcode, length, src, at, mask, available);
      if (stamp === NOT_A_MESSAGE) return;
      this.inMessage = true;
      this.messageStamp = stamp;
    } else if (!this.inMessage) {
      return;
    }
    if (!fin) return;
    this.inMessage = false;
    this.messages++;
    const stamp = this.messageStamp;
    if (this.latency === null || stamp < 0) return;
    if (stamp === this.runStamp) this.runCount++;
    else {
      this.flushRun();
      this.runStamp = stamp;
      this.runCount = 1;
    }
  }

  /**
   * The first frame of a message: its send stamp (-1 when it has none), or {@link NOT_A_MESSAGE} after handing it
   * to `control` (a Socket.IO packet other than an event, a hub message other than a publication).
   */
  private startMessage(opcode: number, length: number, src: Uint8Array, at: number, mask: number, available: number): number {
    switch (this.wire) {
      case 'socketio': {
        const isEvent =
          opcode === Op.TEXT && length >= 2 && (src[at]! ^ (mask >>> 24)) === CHAR_4 && (src[at + 1]! ^ ((mask >>> 16) & 0xff)) === CHAR_2;
        if (!isEvent) {
          this.onControl(opcode, this.copyHead(src, at, Math.min(length, 16), mask), length);
          return NOT_A_MESSAGE;
        }
        break;
      }
      case 'volley-hub': {
        const n = Math.min(available, HUB_HEAD_SIZE);
        // Hubs never mask; the raw echo would, and then only the head is unmasked to look at.
        const stamp = mask === 0 ? publicationStamp(src, at, available) : publicationStamp(this.copyHead(src, at, n, mask), 0, n);
        if (stamp === NOT_PUBLICATION) this.onControl(opcode, this.copyHead(src, at, n, mask), length);
        return stamp === NOT_PUBLICATION ? NOT_A_MESSAGE : stamp;
      }
      case 'websocket':
        break;
    }
    return length >= this.stampOffset + STAMP_SIZE ? this.stampAt(src, at + this.stampOffset, mask) : -1;
  }

  /**
   * The stamp at `src[at..at+8)` masked with `mask`. The frames of one batched write carry the same stamp, so the
   * raw bytes are compared with the last stamp's first and decoded only when they differ.
   */
  private stampAt(src: Uint8Array, at: number, mask: number): number {
    const hi = readUInt32(src, at);
    const lo = readUInt32(src, at + 4);
    if (hi === this.rawHi && lo === this.rawLo && mask === this.rawMask) return this.rawStamp;
    this.rawHi = hi;
    this.rawLo = lo;
    this.rawMask = mask;
    return (this.rawStamp = decodeStamp(src, at, mask));
  }

  private flushRun(): void {
    if (this.runCount > 0) {
      this.latency!.record(this.runStamp, this.runCount);
      this.runCount = 0;
      this.runStamp = -1;
    }
  }

  private copyHead(src: Uint8Array, at: number, n: number, mask: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let j = 0; j < n; j++) out[j] = src[at + j]! ^ ((mask >>> (24 - 8 * (j & 3))) & 0xff);
    return out;
  }
}

/** Header size implied by the second header byte. */
function headerSize(b1: number): number {
  const len = b1 & 0x7f;
  return (len === 126 ? 4 : len === 127 ? 10 : 2) + ((b1 & 0x80) !== 0 ? 4 : 0);
}

function readUInt32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}
