/**
 * Hand-built WebSocket frames for the conformance suite: encode any frame (any opcode, RSV bits, FIN, mask,
 * declared length), parse what a peer sends, and write bytes in chops the way Autobahn|Testsuite does.
 *
 * Deliberately independent of `protocol/`: the suite must not share a bug with the code it tests.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Opcodes by name (RFC 6455 §5.2). Reserved ones are just numbers here. */
export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

/** RSV bits as Autobahn numbers them: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
export const RSV1 = 4;

/** A frame to put on the wire, valid or not. */
export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** @default true */
  fin?: boolean;
  /** RSV bits, 0-7 (4 = RSV1, 2 = RSV2, 1 = RSV3). @default 0 */
  rsv?: number;
  /** `true`: a random key, a 4-byte array: that key, `false`: unmasked. @default the sender's role */
  mask?: boolean | Uint8Array;
  /** Declared payload length when it must differ from the payload's (header-only or lying frames). */
  length?: number;
}

/** A frame as read from the wire, payload already unmasked. */
export interface ParsedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  maskKey: Buffer | null;
  payload: Buffer;
}

/** UTF-8 bytes of a string, or the bytes themselves. */
export function bytesOf(data: Uint8Array | string | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Random bytes fetched in bulk: one `randomBytes` call per 16384 masking keys, not one per frame. */
let keyPool = Buffer.alloc(0);
let keyPoolAt = 0;

function randomKey(): Buffer {
  if (keyPoolAt + 4 > keyPool.length) {
    keyPool = randomBytes(64 * 1024);
    keyPoolAt = 0;
  }
  keyPoolAt += 4;
  return keyPool.subarray(keyPoolAt - 4, keyPoolAt);
}

/** Encodes one frame. `defaultMask` applies when the spec does not say (clients mask, servers do not). */
export function encodeFrame(spec: FrameSpec, defaultMask: boolean): Buffer {
  const payload = bytesOf(spec.payload);
  const length = spec.length ?? payload.length;
  const maskSpec = spec.mask ?? defaultMask;
  const key = maskSpec === false ? null : maskSpec === true ? randomKey() : Buffer.from(maskSpec);
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerSize = 2 + extended + (key === null ? 0 : 4);
  const frame = Buffer.allocUnsafe(headerSize + payload.length);
  frame[0] = (spec.fin === false ? 0 : 0x80) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0x0f);
  frame[1] = (key === null ? 0 : 0x80) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) frame.writeUInt16BE(length, 2);
  else if (extended === 8) frame.writeBigUInt64BE(BigInt(length), 2);
  if (key === null) {
    payload.copy(frame, headerSize);
  } else {
    key.copy(frame, headerSize - 4);
    for (let i = 0; i < payload.length; i++) frame[headerSize + i] = payload[i]! ^ key[i & 3]!;
  }
  return frame;
}

/** Encodes several frames into one buffer. */
export function encodeFrames(specs: readonly FrameSpec[], defaultMask: boolean): Buffer {
  return Buffer.concat(specs.map((spec) => encodeFrame(spec, defaultMask)));
}

/** Splits `data` into data frames of at most `size` payload bytes (Autobahn's `fragmentSize`). */
export function fragment(opcode: number, data: Uint8Array | string, size: number, rsvFirst = 0): FrameSpec[] {
  const bytes = bytesOf(data);
  if (size <= 0 || bytes.length <= size) return [{ opcode, payload: bytes, rsv: rsvFirst }];
  const frames: FrameSpec[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    const end = Math.min(at + size, bytes.length);
    frames.push({ opcode: at === 0 ? opcode : OP.CONT, payload: bytes.subarray(at, end), fin: end === bytes.length, rsv: at === 0 ? rsvFirst : 0 });
  }
  return frames;
}

/** Close frame payload: code (if any) then the reason bytes. */
export function closePayload(code?: number, reason: Uint8Array | string = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, bytesOf(reason)]);
}

/**
 * Incremental frame parser. Never throws on what a peer sends: frames come out as they complete, whatever
 * their content; judging them is the caller's job.
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private size = 0;
  private header: Omit<ParsedFrame, 'payload'> & { length: number } | null = null;

  /** Bytes buffered and not yet part of a complete frame. */
  get buffered(): number {
    return this.size;
  }

  /** Feeds bytes; returns the frames completed by them. */
  push(chunk: Buffer): ParsedFrame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    const frames: ParsedFrame[] = [];
    for (;;) {
      if (this.header === null) {
        if (this.size < 2) break;
        const first = this.peek(2);
        const len7 = first[1]! & 0x7f;
        const masked = (first[1]! & 0x80) !== 0;
        const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
        if (this.size < need) break;
        const h = this.take(need);
        let length = len7;
        let at = 2;
        if (len7 === 126) {
          length = h.readUInt16BE(2);
          at = 4;
        } else if (len7 === 127) {
          length = Number(h.readBigUInt64BE(2));
          at = 10;
        }
        this.header = {
          fin: (h[0]! & 0x80) !== 0,
          rsv: (h[0]! >> 4) & 7,
          opcode: h[0]! & 0x0f,
          masked,
          maskKey: masked ? Buffer.from(h.subarray(at, at + 4)) : null,
          length,
        };
      }
      if (this.size < this.header.length) break;
      const { length, ...frame } = this.header;
      const payload = this.take(length);
      const key = frame.maskKey;
      if (key !== null) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3]!;
      frames.push({ ...frame, payload });
      this.header = null;
    }
    return frames;
  }

  /** The first `n` buffered bytes, without consuming them (n is small). */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    return Buffer.concat(this.chunks, this.size).subarray(0, n);
  }

  /** Consumes `n` bytes into one (owned) buffer. */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const want = n - filled;
      if (head.length <= want) {
        head.copy(out, filled);
        filled += head.length;
        this.chunks.shift();
      } else {
        head.copy(out, filled, 0, want);
        this.chunks[0] = head.subarray(want);
        filled += want;
      }
    }
    this.size -= n;
    return out;
  }
}

/** How bytes go on the wire. */
export interface WriteOptions {
  /** Split at these byte offsets (ascending). */
  chops?: readonly number[];
  /** Split into pieces of this many bytes (Autobahn's `chopsize`; 1 is octet-wise). */
  chopSize?: number;
  /**
   * Pause between pieces, in ms; 0 only yields to the event loop (enough for the peer, in the same process,
   * to read each piece on its own).
   * @default 0, or 1 for octet-wise chops of up to 1 KiB (as Autobahn spaces them out)
   */
  delayMs?: number;
}

/** Writes `data` to `socket`, chopped as asked, resolving once every piece was handed to the kernel. */
export async function writeChopped(socket: Socket, data: Buffer, options: WriteOptions = {}): Promise<void> {
  const pieces: Buffer[] = [];
  if (options.chops !== undefined) {
    let from = 0;
    for (const at of options.chops) {
      if (at <= from || at >= data.length) continue;
      pieces.push(data.subarray(from, at));
      from = at;
    }
    pieces.push(data.subarray(from));
  } else if (options.chopSize !== undefined && options.chopSize > 0) {
    for (let at = 0; at < data.length; at += options.chopSize) pieces.push(data.subarray(at, at + options.chopSize));
  } else {
    pieces.push(data);
  }
  const delay = options.delayMs ?? (options.chopSize === 1 && data.length <= 1024 ? 1 : 0);
  for (let i = 0; i < pieces.length; i++) {
    if (i > 0) await pause(delay);
    if (socket.destroyed || !socket.writable) return;
    await writeOne(socket, pieces[i]!);
  }
}

function writeOne(socket: Socket, piece: Buffer): Promise<void> {
  return new Promise((resolve) => {
    // The callback fires with an error too (peer gone): the caller learns that from the socket's state.
    socket.write(piece, () => resolve());
  });
}

/** Waits `ms` milliseconds, or one turn of the event loop for 0. */
export function pause(ms: number): Promise<void> {
  if (ms <= 0) return new Promise((resolve) => setImmediate(resolve));
  return sleep(ms);
}
