/**
 * Reading a request body with a byte limit enforced while it streams in, shared by the HTTP fallbacks and the
 * HTTP API: a declared `Content-Length` over the limit is refused before a byte is read, a streamed body as
 * soon as the bytes received pass the limit, so a large body is never buffered whole. After a refusal the rest
 * is read and dropped for a while (a lingering close), so that a client still sending reads the 413 rather than
 * a reset; past `discardBytes` or `lingerMs` the socket is destroyed.
 *
 * @module
 */

import type { IncomingMessage } from 'node:http';

/** The request ended before its body did (the client went away): there is nobody to answer. */
export class BodyAbortedError extends Error {
  constructor() {
    super('the request was aborted');
    this.name = 'BodyAbortedError';
  }
}

/** Options of {@link readLimitedBody}. */
export interface LimitedBodyOptions {
  /** Largest body accepted, in bytes. */
  readonly maxBytes: number;
  /** The error to reject with when the body is too large (the caller's 413). */
  readonly tooLarge: () => Error;
  /**
   * After a refusal, bytes of the remaining body read and dropped before the socket is destroyed.
   * @default 4 × maxBytes
   */
  readonly discardBytes?: number;
  /**
   * After a refusal, how long the rest of the body may take before the socket is destroyed, in ms.
   * @default 5000
   */
  readonly lingerMs?: number;
}

/** Collects at most `maxBytes` of the body; rejects with `tooLarge()` as soon as more is announced or received. */
export function readLimitedBody(req: IncomingMessage, options: LimitedBodyOptions): Promise<Buffer> {
  const { maxBytes } = options;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    discardRest(req, options);
    return Promise.reject(options.tooLarge());
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
        reject(options.tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onAbort = (): void => {
      done();
      reject(new BodyAbortedError());
    };
    const done = (): void => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('close', onAbort);
      req.removeListener('error', onAbort);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    // 'close' before 'end' means the body never completed; 'error' is a reset or a parse error.
    req.on('close', onAbort);
    req.on('error', onAbort);
  });
}

/** Reads and drops what is still coming; destroys the socket once too much arrives or it takes too long. */
function discardRest(req: IncomingMessage, options: LimitedBodyOptions): void {
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
  req.on('error', stop);
  req.once('end', stop);
  req.once('close', stop);
  req.resume();
}
