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

/** The request ended before its body did (the client went away): there is nobody to answer. */
export class BodyAbortedError extends Error {
  constructor() {
    super('the request was aborted');
    this.name = 'BodyAbortedError';
  }
}

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
  const tooLarge = (): ApiError => new ApiError(ApiErrorCode.PAYLOAD_TOO_LARGE, `the body is larger than ${maxBytes} bytes`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    discardRest(req, options);
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.byteLength;
      if (received > maxBytes) {
        done();
        chunks.length = 0;
        discardRest(req, options);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onClose = (): void => {
      done();
      reject(new BodyAbortedError());
    };
    const done = (): void => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('close', onClose);
      req.removeListener('error', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    // 'close' before 'end' means the body never completed; 'error' is a reset or a parse error.
    req.on('close', onClose);
    req.on('error', onClose);
  });
}

/**
 * Reads and drops whatever of the body is still coming, so the client sees the response rather than a reset;
 * destroys the socket once too much arrives or it takes too long.
 */
function discardRest(req: IncomingMessage, options: BodyOptions): void {
  if (req.complete) return;
  const limit = options.discardBytes ?? options.maxBytes * 4;
  let discarded = 0;
  const timer = setTimeout(() => req.socket.destroy(), options.lingerMs ?? 5000);
  timer.unref();
  const stop = (): void => {
    clearTimeout(timer);
    req.removeListener('data', onData);
  };
  const onData = (chunk: Buffer): void => {
    discarded += chunk.byteLength;
    if (discarded > limit) {
      stop();
      req.socket.destroy();
    }
  };
  req.on('data', onData);
  req.once('end', stop);
  req.once('close', stop);
  req.once('error', stop);
  req.resume();
}
