/**
 * The two encodings of the hub protocol (docs/protocol.md, "Encodings"): JSON over WebSocket text messages and
 * MessagePack over binary messages, both carrying exactly the JSON data model.
 *
 * Decoding is defensive (reliability.md class 11). Both decoders:
 * - take only their own frame type (a binary message on JSON, or text on MessagePack, is refused);
 * - refuse nesting deeper than `maxDepth` before building it: JSON text is pre-scanned for bracket depth, and
 *   MessagePack is scanned whole, iteratively, before the decoder sees it, so neither the scan nor the decode can
 *   overflow the stack or spend super-linear time on 100,000 open brackets;
 * - refuse any object key `__proto__`, at any depth. `JSON.parse` turns it into an own property (harmless until
 *   someone copies it with `Object.assign` or a spread, which then replaces the copy's prototype), and some
 *   MessagePack decoders silently rename it; neither is data we want to store and fan out, so the message is refused;
 * - refuse what JSON cannot carry: non-finite numbers (JSON `1e999`, MessagePack NaN), lone surrogates,
 *   MessagePack binaries, extension types (timestamps, records, `undefined`), non-string map keys and
 *   invalid UTF-8.
 *
 * Frame size is the transport's limit, checked before the codec runs. Errors are {@link CodecError}s; the hub
 * answers them with disconnect code 4501.
 *
 * Encoding a push for many subscribers happens once per encoding ({@link encodeOnce}).
 *
 * @module
 */

import { isUtf8 } from 'node:buffer';
import { Decoder, Encoder } from '@msgpack/msgpack';
import { invalidArgument } from '../protocol/errors.js';
import type { Publication } from './engine.js';
import { DEFAULT_COMMAND_LIMITS, jsonValueProblem, type JsonProblem } from './validate.js';
import { SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, type Encoding, type PublicationPush, type Push, type Reply } from './wire.js';

// ------------------------------------------------------------------------------------------------- errors

/** Stable code of every {@link CodecError} (docs/errors.md). */
export const CODEC_ERROR_CODE = 'VOLLEY_ERR_MALFORMED_MESSAGE';

/**
 * Why a frame was refused:
 * - `frame_type`: a binary frame on the JSON encoding or a text frame on MessagePack;
 * - `syntax`: not valid JSON / MessagePack, truncated, or trailing bytes;
 * - `too_deep`: arrays/objects nested deeper than `maxDepth`;
 * - `forbidden_key`: an object key `__proto__`;
 * - `unsupported_value`: valid encoding, but not JSON data (see the module comment).
 */
export type CodecErrorReason = 'frame_type' | 'syntax' | JsonProblem['kind'];

/** A frame the codec refuses. Its message never quotes the frame. */
export class CodecError extends Error {
  /** Always {@link CODEC_ERROR_CODE}. */
  readonly code: typeof CODEC_ERROR_CODE = CODEC_ERROR_CODE;
  readonly reason: CodecErrorReason;

  constructor(reason: CodecErrorReason, message: string) {
    super(message);
    this.name = 'CodecError';
    this.reason = reason;
  }
}

// -------------------------------------------------------------------------------------------------- codec

/** Turns frames into values and messages into frames, for one encoding. */
export interface Codec {
  readonly encoding: Encoding;
  /**
   * Decodes one frame (a string for JSON, bytes for MessagePack) into JSON data.
   * @throws CodecError when the frame is refused.
   */
  decode(frame: string | Uint8Array): unknown;
  /**
   * Encodes one message: a string for JSON, bytes for MessagePack (in their own exact-size `ArrayBuffer`, never
   * reused or overwritten later).
   */
  encode(message: Reply | Push): string | Uint8Array;
}

/** Options of {@link createCodec}. */
export interface CodecOptions {
  /**
   * Deepest nesting of arrays and objects in a frame, the message object being level 1. Pass the hub's
   * `CommandLimits` to keep the two in step.
   * @default 64
   */
  readonly maxDepth?: number;
}

/**
 * @msgpack/msgpack configured for the JSON data model: `undefined` object properties skipped like
 * `JSON.stringify` does, 64-bit integers as numbers (beyond 2^53 they round, as in JSON), no extension types
 * (the pre-scan refuses them before the decoder runs).
 */
const encoder = new Encoder({ ignoreUndefined: true, useBigInt64: false });
const decoder = new Decoder({ useBigInt64: false });

/**
 * Creates a codec with non-default limits.
 *
 * @example
 * ```ts
 * const codec = createCodec('msgpack', { maxDepth: 32 });
 * const command = parseCommand(codec.decode(frame), limits);
 * ```
 */
export function createCodec(encoding: Encoding, options: CodecOptions = {}): Codec {
  const maxDepth = options.maxDepth ?? DEFAULT_COMMAND_LIMITS.maxDepth;
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 1) invalidArgument('maxDepth must be a positive integer');
  if (encoding === 'json') {
    return Object.freeze({
      encoding,
      decode: (frame: string | Uint8Array) => decodeJson(frame, maxDepth),
      encode: encodeJson,
    });
  }
  if (encoding === 'msgpack') {
    return Object.freeze({
      encoding,
      decode: (frame: string | Uint8Array) => decodeMsgpack(frame, maxDepth),
      encode: encodeMsgpack,
    });
  }
  return invalidArgument(`unknown encoding ${JSON.stringify(encoding)}`);
}

/** JSON codec with the default limits (`volley.v1.json`, text messages). */
export const jsonCodec: Codec = createCodec('json');
/** MessagePack codec with the default limits (`volley.v1.msgpack`, binary messages). */
export const msgpackCodec: Codec = createCodec('msgpack');

/**
 * The codec of `encoding`: the shared default one, or a new one when `options` set another `maxDepth`.
 *
 * @example
 * ```ts
 * const codec = codecFor(transport.encoding, hub.commandLimits);
 * ```
 */
export function codecFor(encoding: Encoding, options?: CodecOptions): Codec {
  if (options?.maxDepth !== undefined && options.maxDepth !== DEFAULT_COMMAND_LIMITS.maxDepth) return createCodec(encoding, options);
  if (encoding === 'json') return jsonCodec;
  if (encoding === 'msgpack') return msgpackCodec;
  return invalidArgument(`unknown encoding ${JSON.stringify(encoding)}`);
}

// ------------------------------------------------------------------------------------------- negotiation

/**
 * Picks the subprotocol to answer a WebSocket handshake with: the first of the client's offers (its order of
 * preference, RFC 6455 §4.1) that is `volley.v1.json` or `volley.v1.msgpack`; `false` when it offers neither,
 * in which case the server answers without `Sec-WebSocket-Protocol` and speaks JSON. (A client that offered
 * only other subprotocols will then fail the connection, as RFC 6455 §4.1 requires of it.)
 *
 * @example
 * ```ts
 * selectSubprotocol(['volley.v1.msgpack', 'volley.v1.json']); // 'volley.v1.msgpack'
 * selectSubprotocol([]);                                       // false → JSON
 * ```
 */
export function selectSubprotocol(offered: readonly string[]): string | false {
  for (const protocol of offered) {
    if (protocol === SUBPROTOCOL_JSON || protocol === SUBPROTOCOL_MSGPACK) return protocol;
  }
  return false;
}

/** The encoding a negotiated subprotocol means: MessagePack for `volley.v1.msgpack`, JSON otherwise. */
export function encodingForSubprotocol(subprotocol: string | false | undefined): Encoding {
  return subprotocol === SUBPROTOCOL_MSGPACK ? 'msgpack' : 'json';
}

// ------------------------------------------------------------------------------------------ encode once

/** One message, encoded at most once per encoding and shared by every recipient. */
export interface EncodedMessage {
  /** The JSON text (computed on first call, then cached). */
  json(): string;
  /** The JSON text as UTF-8 bytes (computed on first call, then cached). Shared: never modify them. */
  jsonBytes(): Buffer;
  /** The MessagePack bytes (computed on first call, then cached). Shared: never modify them. */
  msgpack(): Uint8Array;
  /** The frame for `encoding`. */
  get(encoding: Encoding): string | Uint8Array;
}

/**
 * Wraps a push so a broadcast encodes it once per encoding, lazily, and writes the same string or bytes to
 * every subscriber. `message` must not change afterwards.
 *
 * @example
 * ```ts
 * const shared = encodeOnce({ type: 'publication', channel, ...publication });
 * for (const session of subscribers) session.write(shared.get(session.encoding));
 * ```
 */
export function encodeOnce(message: Push): EncodedMessage {
  let json: string | undefined;
  let jsonBytes: Buffer | undefined;
  let msgpack: Uint8Array | undefined;
  const encoded: EncodedMessage = {
    json: () => (json ??= encodeJson(message)),
    jsonBytes: () => (jsonBytes ??= Buffer.from(encoded.json(), 'utf8')),
    msgpack: () => (msgpack ??= encodeMsgpack(message)),
    get: (encoding) => (encoding === 'msgpack' ? encoded.msgpack() : encoded.json()),
  };
  return encoded;
}

/** {@link encodeOnce} of the `publication` push of `publication` in `channel` (`info` only when present). */
export function encodePublicationPush(channel: string, publication: Publication): EncodedMessage {
  const push: PublicationPush =
    publication.info === undefined
      ? { type: 'publication', channel, offset: publication.offset, data: publication.data, time: publication.time }
      : { type: 'publication', channel, offset: publication.offset, data: publication.data, info: publication.info, time: publication.time };
  return encodeOnce(push);
}

// ------------------------------------------------------------------------------------------------ JSON

function encodeJson(message: Reply | Push): string {
  return JSON.stringify(message);
}

function decodeJson(frame: string | Uint8Array, maxDepth: number): unknown {
  if (typeof frame !== 'string') throw new CodecError('frame_type', 'the JSON encoding takes text messages only');
  checkJsonNesting(frame, maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    // The SyntaxError quotes the input: keep it out of logs and disconnect reasons.
    throw new CodecError('syntax', 'not valid JSON');
  }
  const problem = jsonValueProblem(value, maxDepth);
  if (problem !== undefined) throw new CodecError(problem.kind, `the message ${problem.message}`);
  return value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Refuses JSON text whose brackets nest deeper than `maxDepth`, before `JSON.parse` builds anything. Brackets
 * inside strings do not count; a string is skipped with `indexOf`, and each backslash before a quote is looked
 * at once, so the scan is linear. On invalid JSON the count may be off, but `JSON.parse` then refuses it anyway.
 */
function checkJsonNesting(text: string, maxDepth: number): void {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = i;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end === -1) return; // unterminated string: JSON.parse reports it
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
        if (backslashes % 2 === 0) break;
      }
      i = end;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) throw new CodecError('too_deep', `the message nests deeper than ${maxDepth} levels`);
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
}

// ------------------------------------------------------------------------------------------- MessagePack

function encodeMsgpack(message: Reply | Push): Uint8Array {
  // encode() returns a fresh exact-size copy (not a view into the encoder's reusable buffer), so a cached push
  // keeps nothing else alive and a transport that sends `.buffer` leaks nothing.
  return encoder.encode(message);
}

function decodeMsgpack(frame: string | Uint8Array, maxDepth: number): unknown {
  if (!(frame instanceof Uint8Array)) throw new CodecError('frame_type', 'the MessagePack encoding takes binary messages only');
  scanMsgpack(frame, maxDepth);
  try {
    return decoder.decode(frame);
  } catch {
    throw new CodecError('syntax', 'not valid MessagePack');
  }
}

/**
 * Walks a MessagePack frame without building anything and refuses, before the decoder runs: truncation and
 * trailing bytes, container lengths larger than the bytes left (so no array is pre-sized from a lie), nesting
 * deeper than `maxDepth`, the never-used byte 0xc1, binaries, extension types, non-string map keys, the key
 * `__proto__`, invalid UTF-8 and non-finite floats. Iterative, linear, one pass.
 */
function scanMsgpack(bytes: Uint8Array, maxDepth: number): void {
  const end = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  /** Items still to read in each open container (a map of n entries holds 2n items: key, value, …). */
  const remaining: number[] = [];
  const isMap: boolean[] = [];
  let pos = 0;

  const need = (count: number): void => {
    if (count > end - pos) throw new CodecError('syntax', 'truncated MessagePack');
  };

  do {
    const top = remaining.length - 1;
    let isKey = false;
    if (top >= 0) {
      isKey = isMap[top]! && remaining[top]! % 2 === 0;
      remaining[top]!--;
    }
    need(1);
    const byte = bytes[pos++]!;
    let stringLength = -1;
    let count = -1;
    let map = false;
    if (byte <= 0x7f || byte >= 0xe0) {
      // positive or negative fixint
    } else if (byte <= 0x8f) {
      count = byte & 0x0f;
      map = true;
    } else if (byte <= 0x9f) {
      count = byte & 0x0f;
    } else if (byte <= 0xbf) {
      stringLength = byte & 0x1f;
    } else {
      switch (byte) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          break;
        case 0xca:
          need(4);
          if (!Number.isFinite(view.getFloat32(pos))) throw unsupported('a number that is not finite');
          pos += 4;
          break;
        case 0xcb:
          need(8);
          if (!Number.isFinite(view.getFloat64(pos))) throw unsupported('a number that is not finite');
          pos += 8;
          break;
        case 0xcc: // uint 8
        case 0xd0: // int 8
          need(1);
          pos += 1;
          break;
        case 0xcd:
        case 0xd1:
          need(2);
          pos += 2;
          break;
        case 0xce:
        case 0xd2:
          need(4);
          pos += 4;
          break;
        case 0xcf:
        case 0xd3:
          need(8);
          pos += 8;
          break;
        case 0xd9:
          need(1);
          stringLength = bytes[pos]!;
          pos += 1;
          break;
        case 0xda:
          need(2);
          stringLength = view.getUint16(pos);
          pos += 2;
          break;
        case 0xdb:
          need(4);
          stringLength = view.getUint32(pos);
          pos += 4;
          break;
        case 0xdc:
          need(2);
          count = view.getUint16(pos);
          pos += 2;
          break;
        case 0xdd:
          need(4);
          count = view.getUint32(pos);
          pos += 4;
          break;
        case 0xde:
          need(2);
          count = view.getUint16(pos);
          map = true;
          pos += 2;
          break;
        case 0xdf:
          need(4);
          count = view.getUint32(pos);
          map = true;
          pos += 4;
          break;
        case 0xc4:
        case 0xc5:
        case 0xc6:
          throw unsupported('a binary (bin 8/16/32)');
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          throw unsupported('an extension type');
        default: // 0xc1
          throw new CodecError('syntax', 'the byte 0xc1 is never used in MessagePack');
      }
    }
    if (isKey && stringLength < 0) throw unsupported('a map key that is not a string');
    if (stringLength >= 0) {
      need(stringLength);
      if (!isUtf8(bytes.subarray(pos, pos + stringLength))) throw unsupported('a string that is not valid UTF-8');
      if (isKey && stringLength === 9 && isProtoKey(bytes, pos)) {
        throw new CodecError('forbidden_key', 'the message has the object key "__proto__"');
      }
      pos += stringLength;
    } else if (count >= 0) {
      if (remaining.length >= maxDepth) throw new CodecError('too_deep', `the message nests deeper than ${maxDepth} levels`);
      const items = map ? count * 2 : count;
      need(items); // every item takes at least one byte
      if (items > 0) {
        remaining.push(items);
        isMap.push(map);
      }
    }
    while (remaining.length > 0 && remaining[remaining.length - 1] === 0) {
      remaining.pop();
      isMap.pop();
    }
  } while (remaining.length > 0);
  if (pos !== end) throw new CodecError('syntax', 'trailing bytes after the MessagePack value');
}

const PROTO_KEY = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"

function isProtoKey(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < PROTO_KEY.length; i++) if (bytes[at + i] !== PROTO_KEY[i]) return false;
  return true;
}

function unsupported(what: string): CodecError {
  return new CodecError('unsupported_value', `the message contains ${what}`);
}
