/**
 * Hand-made WebSocket frames for tests: build any frame (valid or not) as bytes, and parse the frames a peer
 * wrote. Nothing here shares code with `protocol/`, so a bug there cannot hide itself in a test.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';

/** Opcodes of RFC 6455 §5.2, by name. */
export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

/** Everything a frame header can say, including what a well-behaved peer never would. */
export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** @default true */
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** `true` masks with a random key (client frames), `false` sends unmasked, a 4-byte buffer masks with it. @default true */
  mask?: boolean | Uint8Array;
  /** Length to announce instead of the payload's (the payload is still sent as given). */
  announce?: number | bigint;
  /** Force the 7-bit / 16-bit / 64-bit length form. @default the shortest */
  lengthForm?: 7 | 16 | 64;
}

/** Encodes one frame exactly as specified. */
export function frame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : Buffer.from(spec.payload ?? []);
  const announce = BigInt(spec.announce ?? payload.length);
  const form = spec.lengthForm ?? (announce < 126n ? 7 : announce < 65536n ? 16 : 64);
  const maskSpec = spec.mask ?? true;
  const key = maskSpec === false ? null : maskSpec === true ? randomBytes(4) : Buffer.from(maskSpec);
  const header: number[] = [];
  header.push(
    ((spec.fin ?? true) ? 0x80 : 0) |
      (spec.rsv1 ? 0x40 : 0) |
      (spec.rsv2 ? 0x20 : 0) |
      (spec.rsv3 ? 0x10 : 0) |
      (spec.opcode & 0x0f),
  );
  const maskBit = key === null ? 0 : 0x80;
  const extended = Buffer.alloc(form === 7 ? 0 : form === 16 ? 2 : 8);
  if (form === 7) header.push(maskBit | Number(announce));
  else if (form === 16) {
    header.push(maskBit | 126);
    extended.writeUInt16BE(Number(announce));
  } else {
    header.push(maskBit | 127);
    extended.writeBigUInt64BE(announce);
  }
  const body = Buffer.from(payload);
  if (key !== null) for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(header), extended, key ?? Buffer.alloc(0), body]);
}

/** Shorthands for the frames tests send most. */
export const text = (payload: string | Uint8Array, extra: Partial<FrameSpec> = {}): Buffer => frame({ opcode: OP.TEXT, payload, ...extra });
export const binary = (payload: Uint8Array, extra: Partial<FrameSpec> = {}): Buffer => frame({ opcode: OP.BINARY, payload, ...extra });

/** Splits `bytes` at the given positions (ascending): the reads a socket would deliver. */
export function cut(bytes: Buffer, at: readonly number[]): Buffer[] {
  const reads: Buffer[] = [];
  let start = 0;
  for (const end of [...at, bytes.length]) {
    reads.push(bytes.subarray(start, end));
    start = end;
  }
  return reads;
}

/** A close frame payload: 2-byte code and the reason bytes (given raw so that invalid UTF-8 can be sent). */
export function closePayload(code: number, reason: string | Uint8Array = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason, 'utf8') : Buffer.from(reason)]);
}

/** A close frame from a client (masked). */
export function closeFrame(code?: number, reason: string | Uint8Array = '', extra: Partial<FrameSpec> = {}): Buffer {
  return frame({ opcode: OP.CLOSE, payload: code === undefined ? Buffer.alloc(0) : closePayload(code, reason), ...extra });
}

/** A frame as read off the wire. */
export interface ParsedFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
  /** Close frames: the code, or undefined when the payload was empty. */
  closeCode?: number;
  /** Close frames: the reason as UTF-8. */
  closeReason?: string;
}

/**
 * Parses one frame from the start of `data`. Returns the frame and how many bytes it took, or null when
 * `data` does not yet hold a whole frame.
 */
export function parseFrame(data: Buffer): { frame: ParsedFrame; size: number } | null {
  if (data.length < 2) return null;
  const b0 = data[0]!;
  const b1 = data[1]!;
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (data.length < 4) return null;
    length = data.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (data.length < 10) return null;
    length = Number(data.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const key = masked ? data.subarray(offset, offset + 4) : null;
  if (masked) offset += 4;
  if (data.length < offset + length) return null;
  const payload = Buffer.from(data.subarray(offset, offset + length));
  if (key !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
  const parsed: ParsedFrame = {
    fin: (b0 & 0x80) !== 0,
    rsv1: (b0 & 0x40) !== 0,
    rsv2: (b0 & 0x20) !== 0,
    rsv3: (b0 & 0x10) !== 0,
    opcode: b0 & 0x0f,
    masked,
    payload,
  };
  if (parsed.opcode === OP.CLOSE && payload.length >= 2) {
    parsed.closeCode = payload.readUInt16BE(0);
    parsed.closeReason = payload.subarray(2).toString('utf8');
  }
  return { frame: parsed, size: offset + length };
}
