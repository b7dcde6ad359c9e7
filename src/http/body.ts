/**
 * Reading a JSON request body with a byte limit enforced while it streams in: a declared `Content-Length`
 * over the limit is refused before a byte is read, and a chunked body is refused as soon as the bytes received
 * pass the limit, so a large body is never buffered whole.
 *
 * After a refusal the rest of the body is read and thrown away for a while (a "lingering close"), so that the
 * client, still sending, receives the 413 instead of a TCP reset; past {@link BodyOptions.discardBytes} or
 * {@link BodyOptions.lingerMs} the socket is destroyed.
 *
 * @module
 */

import type { IncomingMessage } from 'node:http';
import { CodecError, createCodec, type Codec } from '../hub/codec.js';
import { BodyAbortedError, readLimitedBody } from '../transports/http-body.js';
import { ApiError, ApiErrorCode } from './respond.js';

/** Options of {@link readJsonBody}. */
export interface BodyOptions {
  /** Largest body accepted, in bytes. */
  readonly maxBytes: number;
  /** Deepest nesting of arrays and objects, the body itself being level 1. */
  readonly maxDepth: number;
  /**
   * After a 413, bytes of the remaining body read and discarded before the socket is destroyed.
   * @default 4 × maxBytes
   */
  readonly discardBytes?: number;
  /**
   * After a 413, how long the rest of the body may take before the socket is destroyed, in ms.
   * @default 5000
   */
  readonly lingerMs?: number;
}

export { BodyAbortedError };

const codecs = new Map<number, Codec>();

/** The JSON codec for a depth limit: it refuses `__proto__` keys, lone surrogates and deep nesting. */
function codecFor(maxDepth: number): Codec {
  let codec = codecs.get(maxDepth);
  if (codec === undefined) codecs.set(maxDepth, (codec = createCodec('json', { maxDepth })));
  return codec;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Reads the body of `req` as JSON.
 *
 * @returns the parsed value (JSON data only, as the hub protocol accepts it).
 * @throws ApiError `payload_too_large` (413) past `maxBytes`; `bad_request` (400) when the body is empty, not
 * UTF-8, or not JSON. {@link BodyAbortedError} when the client went away.
 */
export async function readJsonBody(req: IncomingMessage, options: BodyOptions): Promise<unknown> {
  const bytes = await readLimited(req, options);
  if (bytes.byteLength === 0) throw new ApiError(ApiErrorCode.BAD_REQUEST, 'a JSON body is required');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError(ApiErrorCode.BAD_REQUEST, 'the body is not valid UTF-8');
  }
  try {
    return codecFor(options.maxDepth).decode(text);
  } catch (error) {
    if (error instanceof CodecError) {
      const message = error.reason === 'syntax' ? 'the body is not valid JSON' : error.message.replace(/^the message/, 'the body');
      throw new ApiError(ApiErrorCode.BAD_REQUEST, message);
    }
    throw error;
  }
}

/** Collects at most `maxBytes` of the body; rejects with 413 as soon as more is announced or received. */
function readLimited(req: IncomingMessage, options: BodyOptions): Promise<Buffer> {
  const { maxBytes } = options;
  return readLimitedBody(req, {
    maxBytes,
    tooLarge: () => new ApiError(ApiErrorCode.PAYLOAD_TOO_LARGE, `the body is larger than ${maxBytes} bytes`),
    ...(options.discardBytes !== undefined ? { discardBytes: options.discardBytes } : {}),
    ...(options.lingerMs !== undefined ? { lingerMs: options.lingerMs } : {}),
  });
}
