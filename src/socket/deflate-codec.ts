/**
 * The `node:zlib` implementation of the protocol core's `MessageCodec` for permessage-deflate (RFC 7692 §7.2):
 * one raw deflate and one raw inflate stream per connection, created on first use, with a process-wide cap on
 * how many zlib operations run at once.
 *
 * Inflated bytes are counted chunk by chunk against the caller's limit; the inflater is closed the moment the
 * limit is crossed, so a decompression bomb costs at most `limit` plus one zlib chunk (16 KiB) of memory.
 *
 * @module
 */

import zlib from 'node:zlib';

import { CloseCode } from '../protocol/constants.js';
import { ErrorCode, WebSocketError, invalidArgument } from '../protocol/errors.js';
import type { ResolvedDeflateOptions } from '../protocol/permessage-deflate.js';
import type { CodecCallback, DeflateParams, MessageCodec, Role } from '../protocol/types.js';

/** RFC 7692 §7.2.1: the empty stored block a sync flush ends with; stripped on send, appended on receive. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** zlib will not build a raw deflater with an 8-bit window (madler/zlib#171); see {@link createDeflateCodec}. */
const MIN_DEFLATE_WINDOW_BITS = 9;

/** A queued zlib operation; it must call `release` exactly once (extra calls are ignored). */
type Job = (release: () => void) => void;

/**
 * A FIFO queue that runs at most `concurrency` jobs at once. Jobs are tagged with an owner so that a closing
 * codec can drop its queued work at once instead of keeping itself alive until the queue reaches it (ws #1617).
 */
export class ZlibLimiter {
  /** Most jobs running at once. */
  readonly concurrency: number;
  #running = 0;
  #draining = false;
  /** FIFO of waiting jobs: `#queue[#head]` is next. A head index, because `shift()` is O(n) per job. */
  #queue: Array<{ owner: object; job: Job } | undefined> = [];
  #head = 0;

  /** @param concurrency A positive integer, or `Infinity`. */
  constructor(concurrency: number) {
    if (!(concurrency === Infinity || (Number.isInteger(concurrency) && concurrency >= 1))) {
      invalidArgument('concurrency must be a positive integer or Infinity');
    }
    this.concurrency = concurrency;
  }

  /** Jobs started and not yet released. */
  get running(): number {
    return this.#running;
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Queues `job` for `owner`; it starts now if a slot is free. */
  add(owner: object, job: Job): void {
    this.#queue.push({ owner, job });
    this.#drain();
  }

  /** Drops every queued (not yet started) job of `owner`. */
  cancel(owner: object): void {
    const queue = this.#queue;
    let kept = 0;
    for (let i = this.#head; i < queue.length; i++) {
      const entry = queue[i]!;
      if (entry.owner !== owner) queue[kept++] = entry;
    }
    queue.length = kept;
    this.#head = 0;
  }

  #drain(): void {
    // A job that releases synchronously re-enters here; the outer loop carries on instead of recursing.
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#running < this.concurrency && this.#head < this.#queue.length) {
        const { job } = this.#queue[this.#head]!;
        this.#queue[this.#head++] = undefined;
        if (this.#head === this.#queue.length) {
          this.#queue.length = 0;
          this.#head = 0;
        } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        this.#running++;
        let released = false;
        job(() => {
          if (released) return;
          released = true;
          this.#running--;
          this.#drain();
        });
      }
    } finally {
      this.#draining = false;
    }
  }
}

/** One limiter per concurrency value; in practice one per process. */
const limiters = new Map<number, ZlibLimiter>();

/**
 * The process-wide limiter shared by every codec created with this `concurrencyLimit`. It is global on
 * purpose: the scarce resource is the libuv thread pool and the heap, not anything per connection.
 */
export function sharedZlibLimiter(concurrencyLimit: number): ZlibLimiter {
  let limiter = limiters.get(concurrencyLimit);
  if (!limiter) {
    limiter = new ZlibLimiter(concurrencyLimit);
    limiters.set(concurrencyLimit, limiter);
  }
  return limiter;
}

/** One decompress or compress call in progress. */
interface Operation {
  readonly callback: CodecCallback;
  readonly release: () => void;
  readonly limit: number;
  readonly chunks: Buffer[];
  total: number;
}

/**
 * Creates the per-connection permessage-deflate codec for the agreed `params`. `role` decides which side's
 * parameters apply: a server compresses with the `server*` parameters and inflates with the `client*` ones,
 * a client the other way round.
 *
 * A negotiated window of 8 bits is honoured with a 9-bit zlib compressor: zlib refuses raw 8-bit deflate, and
 * its 9-bit compressor never emits a match more than `512 - 262 = 250` bytes back (`MAX_DIST`), so the peer's
 * 256-byte window always suffices. The inflater uses the negotiated window as is.
 *
 * Operations are queued on the shared {@link ZlibLimiter} for `options.concurrencyLimit`, and zlib reads the
 * input on the thread pool, so the bytes passed to `compress`/`decompress` must stay unchanged until the
 * callback (or `close()`). `options.threshold` is not applied here: the connection decides what to compress.
 *
 * @throws WebSocketError `VOLLEY_ERR_INVALID_ARGUMENT` if `params` holds a window outside 8-15.
 * @example
 * ```ts
 * const codec = createDeflateCodec(agreed.params, 'server', options);
 * codec.compress(payload, (error, data) => { ... });
 * codec.decompress(framePayload, fin, maxMessageSize - received, (error, data) => { ... });
 * codec.close();
 * ```
 */
export function createDeflateCodec(params: DeflateParams, role: Role, options: ResolvedDeflateOptions): MessageCodec {
  for (const bits of [params.serverMaxWindowBits, params.clientMaxWindowBits]) {
    if (!Number.isInteger(bits) || bits < 8 || bits > 15) invalidArgument('window bits must be integers from 8 to 15');
  }
  if (role !== 'server' && role !== 'client') invalidArgument("role must be 'server' or 'client'");
  return new DeflateCodec(params, role, options);
}

class DeflateCodec implements MessageCodec {
  readonly #limiter: ZlibLimiter;
  readonly #deflateOptions: zlib.ZlibOptions;
  readonly #inflateWindowBits: number;
  readonly #resetDeflate: boolean;
  readonly #resetInflate: boolean;

  #closed = false;
  #inflater: zlib.InflateRaw | null = null;
  #deflater: zlib.DeflateRaw | null = null;
  #inflating: Operation | null = null;
  #deflating: Operation | null = null;

  constructor(params: DeflateParams, role: Role, options: ResolvedDeflateOptions) {
    const server = role === 'server';
    const deflateBits = server ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    this.#deflateOptions = {
      windowBits: Math.max(deflateBits, MIN_DEFLATE_WINDOW_BITS),
      level: options.level,
      memLevel: options.memLevel,
    };
    this.#inflateWindowBits = server ? params.clientMaxWindowBits : params.serverMaxWindowBits;
    this.#resetDeflate = server ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.#resetInflate = server ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    this.#limiter = sharedZlibLimiter(options.concurrencyLimit);
  }

  decompress(data: Uint8Array, fin: boolean, limit: number, callback: CodecCallback): void {
    if (this.#closed) return;
    this.#limiter.add(this, (release) => this.#inflate(data, fin, { callback, release, limit, chunks: [], total: 0 }));
  }

  compress(data: Uint8Array, callback: CodecCallback): void {
    if (this.#closed) return;
    const limit = Infinity;
    this.#limiter.add(this, (release) => this.#deflate(data, { callback, release, limit, chunks: [], total: 0 }));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#limiter.cancel(this);
    // Free the slots now: a closed stream's flush callback is not something to wait on (ws #1617).
    this.#inflating?.release();
    this.#deflating?.release();
    this.#inflating = this.#deflating = null;
    this.#dropInflater();
    this.#dropDeflater();
  }

  #inflate(data: Uint8Array, fin: boolean, op: Operation): void {
    const inflater = this.#inflater ?? this.#newInflater();
    this.#inflating = op;
    inflater.write(data);
    // RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload of the message."
    if (fin) inflater.write(TAIL);
    inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      if (this.#inflating !== op) return; // failed over the limit, errored or closed meanwhile
      if (inflater.errored || (inflater.destroyed && !inflater.readableEnded)) {
        // Never deliver what a failed stream produced so far (zlib reports errors by event, not here).
        this.#dropInflater();
        this.#finish(op, inflateFailed('the stream failed'));
        return;
      }
      if (inflater.readableEnded) {
        // The peer ended the deflate stream (BFINAL): nothing can follow in this context, start afresh.
        this.#dropInflater();
      } else if (fin && this.#resetInflate) {
        inflater.reset();
      }
      this.#finish(op, null, concat(op.chunks, op.total));
    });
  }

  #deflate(data: Uint8Array, op: Operation): void {
    const deflater = this.#deflater ?? this.#newDeflater();
    this.#deflating = op;
    deflater.write(data);
    deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      if (this.#deflating !== op) return;
      let out = concat(op.chunks, op.total);
      // RFC 7692 §7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
      if (out.length >= 4 && TAIL.equals(out.subarray(out.length - 4))) out = out.subarray(0, out.length - 4);
      if (this.#resetDeflate) deflater.reset();
      this.#finish(op, null, out);
    });
  }

  #newInflater(): zlib.InflateRaw {
    const inflater = zlib.createInflateRaw({ windowBits: this.#inflateWindowBits });
    inflater.on('data', (chunk: Buffer) => {
      const op = this.#inflating;
      if (inflater !== this.#inflater || !op) return;
      op.total += chunk.length;
      if (op.total > op.limit) {
        // Stop at once: close the stream so zlib spends no more CPU, and drop what was inflated.
        this.#dropInflater();
        op.chunks.length = 0;
        this.#finish(
          op,
          new WebSocketError(
            ErrorCode.PAYLOAD_TOO_BIG,
            `Decompressed message exceeds ${op.limit} bytes`,
            CloseCode.MESSAGE_TOO_BIG,
          ),
        );
        return;
      }
      op.chunks.push(chunk);
    });
    // Always listened to, so that no zlib error can escape to the process.
    inflater.on('error', (error: Error) => {
      if (inflater !== this.#inflater) return;
      const op = this.#inflating;
      this.#dropInflater();
      if (op) {
        op.chunks.length = 0;
        this.#finish(op, inflateFailed(error.message));
      }
    });
    this.#inflater = inflater;
    return inflater;
  }

  #newDeflater(): zlib.DeflateRaw {
    const deflater = zlib.createDeflateRaw(this.#deflateOptions);
    deflater.on('data', (chunk: Buffer) => {
      const op = this.#deflating;
      if (deflater !== this.#deflater || !op) return;
      op.total += chunk.length;
      op.chunks.push(chunk);
    });
    deflater.on('error', (error: Error) => {
      if (deflater !== this.#deflater) return;
      const op = this.#deflating;
      this.#dropDeflater();
      if (op) this.#finish(op, new Error(`Compression failed: ${error.message}`));
    });
    this.#deflater = deflater;
    return deflater;
  }

  /** Closes the inflater; its listeners stay attached but ignore it, since it is no longer `#inflater`. */
  #dropInflater(): void {
    const inflater = this.#inflater;
    this.#inflater = null;
    inflater?.close();
  }

  #dropDeflater(): void {
    const deflater = this.#deflater;
    this.#deflater = null;
    deflater?.close();
  }

  /** Settles `op` once: frees its limiter slot first, then calls back unless the codec was closed. */
  #finish(op: Operation, error: WebSocketError | Error | null, data?: Uint8Array): void {
    if (this.#inflating === op) this.#inflating = null;
    else if (this.#deflating === op) this.#deflating = null;
    else return;
    op.release();
    if (this.#closed) return;
    if (error) op.callback(error);
    else op.callback(null, data);
  }
}

function inflateFailed(reason: string): WebSocketError {
  return new WebSocketError(ErrorCode.INFLATE_FAILED, `Invalid compressed data: ${reason}`, CloseCode.INVALID_DATA);
}

function concat(chunks: Buffer[], total: number): Buffer {
  if (chunks.length === 1) return chunks[0]!;
  return Buffer.concat(chunks, total);
}
