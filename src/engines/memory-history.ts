/**
 * {@link MemoryHistoryStore}: the bounded in-process {@link HistoryStore}, for tests, single nodes without a disk,
 * and as the reference the contract suite was written against.
 *
 * Each channel keeps a ring of its newest `size` publications; a publication expires `ttlMs` after it was
 * appended and a stream is forgotten (with its epoch) `emptyStreamTtlMs` after its last publication expired. At most `maxChannels`
 * streams are kept: creating one more forgets the least recently used. Everything is lost when the process ends,
 * which is why every stream starts in a new random epoch: clients that recover across a restart see the epoch
 * change and get a gap instead of a silent loss.
 *
 * Data is stored as JSON text, so only JSON values are accepted (as in every other store) and what a reader gets
 * back can never be changed by the publisher mutating its object later.
 *
 * @example
 * ```ts
 * const history = new MemoryHistoryStore({ maxChannels: 10_000 });
 * const { publication, epoch } = await history.append('chat:lobby', { data: { text: 'hi' }, time: Date.now() },
 *   { size: 100, ttlMs: 60_000 });
 * const page = await history.read('chat:lobby', { since: publication.offset - 1 });
 * ```
 *
 * @module
 */

import type { AppendResult, HistoryPage, HistoryQuery, HistoryStore, Publication, StreamPosition } from '../hub/engine.js';
import { checkInteger, checkString, closedError } from './errors.js';
import {
  type AppendEntry,
  type AppendOptions,
  type HistoryStoreBaseOptions,
  type ResolvedBaseOptions,
  checkAppend,
  checkQuery,
  newEpoch,
  resolveBaseOptions,
  toPublication,
} from './history-args.js';
import { Sweeper } from './sweeper.js';

/** Options of {@link MemoryHistoryStore}. */
export interface MemoryHistoryStoreOptions extends HistoryStoreBaseOptions {
  /**
   * Streams kept at most. Creating one more (by `append`, `read` or `position` of an unknown channel) forgets
   * the least recently used one, epoch included, so memory stays bounded whatever channel names clients use.
   * @default 100_000
   */
  readonly maxChannels?: number;
  /**
   * Idempotency keys remembered per channel. Past this, the oldest key is forgotten before its window ends (a
   * retry with it would then be appended again).
   * @default 10_000
   */
  readonly maxDedupeKeys?: number;
}

/** A publication as kept: JSON text, and when it expires. */
interface Stored {
  readonly offset: number;
  readonly data: string;
  readonly info: string | undefined;
  readonly time: number;
  readonly expiresAt: number;
}

/** A channel's stream. `entries[head..]` are the publications kept, oldest first, offsets consecutive. */
class Stream {
  readonly epoch: string;
  top = 0;
  entries: Stored[] = [];
  head = 0;
  /** When the whole stream is forgotten. */
  expiresAt: number;
  /** Expiry of the newest publication, 0 before the first one. */
  lastExpiresAt = 0;
  /** Idempotency key → first result, in insertion order. */
  readonly dedupe = new Map<string, { readonly stored: Stored; readonly expiresAt: number }>();

  constructor(epoch: string, expiresAt: number) {
    this.epoch = epoch;
    this.expiresAt = expiresAt;
  }

  /** Offset of the oldest publication kept, or `top + 1` when none is. */
  get oldest(): number {
    return this.head < this.entries.length ? this.entries[this.head]!.offset : this.top + 1;
  }

  /** Drops publications beyond the newest `size` and expired ones (always a prefix: expiry never decreases). */
  trim(size: number, now: number): void {
    const entries = this.entries;
    let head = Math.max(this.head, entries.length - size);
    while (head < entries.length && entries[head]!.expiresAt <= now) head++;
    if (head === entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (head >= 32 && head * 2 >= entries.length) {
      this.entries = entries.slice(head);
      this.head = 0;
    } else {
      this.head = head;
    }
  }

  /** Forgets idempotency keys whose window ended, oldest first. */
  purgeDedupe(now: number): void {
    for (const [key, seen] of this.dedupe) {
      if (seen.expiresAt > now) break;
      this.dedupe.delete(key);
    }
  }
}

const State = { OPEN: 'open', CLOSED: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/**
 * The in-process history store. All methods complete synchronously and return settled promises, so appends
 * finish in call order and offsets follow that order.
 */
export class MemoryHistoryStore implements HistoryStore {
  #state: State = State.OPEN;
  /** Streams in least-recently-used order: every use moves a stream to the end. */
  readonly #streams = new Map<string, Stream>();
  readonly #options: ResolvedBaseOptions;
  readonly #maxChannels: number;
  readonly #maxDedupeKeys: number;
  readonly #sweeper: Sweeper;

  /** @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for an option of the wrong type or out of range. */
  constructor(options: MemoryHistoryStoreOptions = {}) {
    this.#options = resolveBaseOptions(options);
    this.#maxChannels = options.maxChannels === undefined ? 100_000 : checkInteger('maxChannels', options.maxChannels, 1);
    this.#maxDedupeKeys = options.maxDedupeKeys === undefined ? 10_000 : checkInteger('maxDedupeKeys', options.maxDedupeKeys, 1);
    this.#sweeper = new Sweeper(() => this.sweep(), this.#options.sweepIntervalMs, this.#options.timers);
  }

  /** Number of streams kept (expired ones included until they are next touched or swept). */
  get channels(): number {
    return this.#streams.size;
  }

  async append(channel: string, entry: AppendEntry, options: AppendOptions): Promise<AppendResult> {
    this.#assertOpen();
    const args = checkAppend(channel, entry, options, this.#options.dedupeWindowMs);
    const now = this.#options.now();
    let stream = this.#live(channel, now);
    if (args.idempotencyKey !== undefined && stream !== undefined) {
      const seen = stream.dedupe.get(args.idempotencyKey);
      if (seen !== undefined && seen.expiresAt > now) {
        const { offset, data, info, time } = seen.stored;
        return { publication: toPublication(offset, data, info, time), epoch: stream.epoch, duplicate: true };
      }
    }
    stream ??= this.#create(channel, now);
    const offset = stream.top + 1;
    // Expiry never decreases along a stream, so expired publications are always a prefix (no holes), even when
    // ttlMs shrinks or the clock steps back.
    const expiresAt = Math.max(now + args.ttlMs, stream.lastExpiresAt);
    const stored: Stored = { offset, data: args.data, info: args.info, time: args.time, expiresAt };
    stream.entries.push(stored);
    stream.top = offset;
    stream.lastExpiresAt = expiresAt;
    stream.expiresAt = expiresAt;
    stream.trim(args.size, now);
    if (args.idempotencyKey !== undefined && args.dedupeWindowMs > 0) {
      stream.dedupe.delete(args.idempotencyKey);
      stream.dedupe.set(args.idempotencyKey, { stored, expiresAt: now + args.dedupeWindowMs });
      stream.purgeDedupe(now);
      while (stream.dedupe.size > this.#maxDedupeKeys) stream.dedupe.delete(stream.dedupe.keys().next().value!);
    }
    const publication: Publication =
      entry.info === undefined ? { offset, data: entry.data, time: args.time } : { offset, data: entry.data, info: entry.info, time: args.time };
    return { publication, epoch: stream.epoch, duplicate: false };
  }

  async read(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    this.#assertOpen();
    const { since, limit, reverse } = checkQuery(channel, query);
    const now = this.#options.now();
    const stream = this.#live(channel, now) ?? this.#create(channel, now);
    const { entries, head } = stream;
    const oldest = stream.oldest;
    const from = Math.min(entries.length, head + Math.max(0, since + 1 - oldest));
    const count = limit === undefined ? entries.length - from : Math.min(limit, entries.length - from);
    const publications: Publication[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const stored = entries[reverse ? entries.length - 1 - i : from + i]!;
      publications[i] = toPublication(stored.offset, stored.data, stored.info, stored.time);
    }
    return { epoch: stream.epoch, offset: stream.top, oldest, publications };
  }

  async position(channel: string): Promise<StreamPosition> {
    this.#assertOpen();
    checkString('channel', channel);
    const now = this.#options.now();
    const stream = this.#live(channel, now) ?? this.#create(channel, now);
    return { epoch: stream.epoch, offset: stream.top };
  }

  async remove(channel: string): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    this.#streams.delete(channel);
  }

  /** Forgets every stream and stops the sweep timer. Idempotent; every later call rejects `VOLLEY_ERR_INVALID_STATE`. */
  async close(): Promise<void> {
    if (this.#state === State.CLOSED) return;
    this.#state = State.CLOSED;
    this.#sweeper.stop();
    this.#streams.clear();
  }

  /**
   * Drops expired streams, publications and idempotency keys now. The sweep timer calls this every
   * `sweepIntervalMs`; it stops itself when no stream is left and restarts with the next one.
   */
  sweep(): void {
    if (this.#state !== State.OPEN) return;
    const now = this.#options.now();
    for (const [channel, stream] of this.#streams) {
      if (now >= this.#forgetAt(stream)) {
        this.#streams.delete(channel);
        continue;
      }
      stream.trim(stream.entries.length, now);
      stream.purgeDedupe(now);
    }
    if (this.#streams.size === 0) this.#sweeper.stop();
  }

  #assertOpen(): void {
    if (this.#state !== State.OPEN) closedError('MemoryHistoryStore');
  }

  /**
   * When a stream's epoch is forgotten: an empty stream at its own expiry; a stream that had publications
   * `emptyStreamTtlMs` after its last one expired, so a quiet channel keeps its epoch and a client recovering
   * after the quiet period gets no false gap.
   */
  #forgetAt(stream: Stream): number {
    return stream.top > 0 ? stream.expiresAt + this.#options.emptyStreamTtlMs : stream.expiresAt;
  }

  /** The channel's stream unless unknown or expired; marks it recently used and drops its expired publications. */
  #live(channel: string, now: number): Stream | undefined {
    const stream = this.#streams.get(channel);
    if (stream === undefined) return undefined;
    this.#streams.delete(channel);
    if (now >= this.#forgetAt(stream)) return undefined;
    this.#streams.set(channel, stream);
    stream.trim(stream.entries.length, now);
    return stream;
  }

  /** Starts a stream in a new epoch, forgetting the least recently used ones beyond `maxChannels`. */
  #create(channel: string, now: number): Stream {
    const stream = new Stream(newEpoch(this.#options.randomId), now + this.#options.emptyStreamTtlMs);
    while (this.#streams.size >= this.#maxChannels) this.#streams.delete(this.#streams.keys().next().value!);
    this.#streams.set(channel, stream);
    this.#sweeper.start();
    return stream;
  }
}
