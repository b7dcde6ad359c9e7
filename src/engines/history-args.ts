/**
 * What both history stores share: their common options with defaults, the checks of `append` and `read`
 * arguments (so every store rejects the same inputs with the same codes), and the decoding of stored rows.
 *
 * @module
 */

import type { ClientInfo, HistoryOptions, HistoryQuery, Publication } from '../hub/engine.js';
import { checkDuration, checkInteger, checkString, invalidArgument } from './errors.js';
import { decodeJson, encodeJson } from './json.js';
import { randomEpoch } from './epoch.js';
import { systemTimers, type Timers } from './sweeper.js';

/** Dedupe window used when `append` gets an `idempotencyKey` without `dedupeWindowMs`: 5 minutes, like centrifuge. */
export const DEFAULT_DEDUPE_WINDOW_MS = 300_000;
/** How long a stream that never had a publication keeps its epoch: one day. */
export const DEFAULT_EMPTY_STREAM_TTL_MS = 86_400_000;
/** Period of the clean-up timer: 10 seconds. */
export const DEFAULT_SWEEP_INTERVAL_MS = 10_000;

/** Options every history store accepts. */
export interface HistoryStoreBaseOptions {
  /**
   * The clock, in ms since the Unix epoch. Publication and stream expiry and the dedupe window are measured
   * with it (not with the publication's `time`), so tests can move time.
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * Makes a new epoch when a stream starts.
   * @default randomEpoch (12 URL-safe base64 characters, 72 random bits)
   */
  readonly randomId?: () => string;
  /**
   * Dedupe window for an `append` that passes `idempotencyKey` but no `dedupeWindowMs`.
   * @default 300_000 (5 minutes)
   */
  readonly dedupeWindowMs?: number;
  /**
   * How long a stream keeps its epoch while it holds no publication: after it was created by `position()` or
   * `read()` of an unknown channel, or after its last publication expired. Past it the stream is forgotten and
   * the next append starts a new epoch. This bounds what lookups of many unknown channels leave behind, while a
   * quiet channel keeps its epoch, so a client recovering after the quiet period gets no false gap.
   * @default 86_400_000 (1 day)
   */
  readonly emptyStreamTtlMs?: number;
  /**
   * Period of the clean-up timer that removes expired publications, streams and dedupe keys nobody reads. The
   * timer is unref'd and stopped by `close()`; expired data is also dropped whenever a channel is touched.
   * @default 10_000
   */
  readonly sweepIntervalMs?: number;
  /**
   * Timer functions, for tests that check the sweep timer starts and stops.
   * @default the global setInterval / clearInterval
   */
  readonly timers?: Timers;
}

/** An `append` call, checked and encoded. */
export interface CheckedAppend {
  readonly size: number;
  readonly ttlMs: number;
  readonly idempotencyKey: string | undefined;
  readonly dedupeWindowMs: number;
  readonly time: number;
  readonly data: string;
  readonly info: string | undefined;
}

/** The arguments of `HistoryStore.append`. */
export type AppendEntry = { readonly data: unknown; readonly info?: ClientInfo; readonly time: number };
/** The options of `HistoryStore.append`. */
export type AppendOptions = HistoryOptions & { readonly idempotencyKey?: string; readonly dedupeWindowMs?: number };

/**
 * Checks and encodes an `append` call before anything is stored.
 *
 * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad option, `VOLLEY_ERR_NOT_JSON` for data or info that
 * is not a JSON value.
 */
export function checkAppend(channel: unknown, entry: AppendEntry, options: AppendOptions, defaultWindowMs: number): CheckedAppend {
  checkString('channel', channel);
  if (typeof entry !== 'object' || entry === null) invalidArgument('entry must be an object');
  if (typeof options !== 'object' || options === null) invalidArgument('options must be an object');
  const size = checkInteger('size', options.size, 1);
  const ttlMs = checkDuration('ttlMs', options.ttlMs);
  const idempotencyKey = options.idempotencyKey === undefined ? undefined : checkString('idempotencyKey', options.idempotencyKey, false);
  const dedupeWindowMs =
    options.dedupeWindowMs === undefined ? defaultWindowMs : checkDuration('dedupeWindowMs', options.dedupeWindowMs, true);
  if (typeof entry.time !== 'number' || !Number.isFinite(entry.time)) invalidArgument('entry.time must be a finite number');
  const info = entry.info;
  if (info !== undefined) {
    if (typeof info !== 'object' || info === null) invalidArgument('entry.info must be an object');
    checkString('entry.info.clientId', info.clientId);
    checkString('entry.info.userId', info.userId);
  }
  return {
    size,
    ttlMs,
    idempotencyKey,
    dedupeWindowMs,
    time: entry.time,
    data: encodeJson(entry.data, 'data'),
    info: info === undefined ? undefined : encodeJson(info, 'info'),
  };
}

/** A `read` query, checked; `since` 0 means from the oldest kept. */
export interface CheckedQuery {
  readonly since: number;
  readonly limit: number | undefined;
  readonly reverse: boolean;
}

/**
 * Checks a `read` query.
 *
 * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` when `since` or `limit` is not a non-negative integer.
 */
export function checkQuery(channel: unknown, query: HistoryQuery | undefined): CheckedQuery {
  checkString('channel', channel);
  if (query === undefined) return { since: 0, limit: undefined, reverse: false };
  if (typeof query !== 'object' || query === null) invalidArgument('query must be an object');
  if (query.reverse !== undefined && typeof query.reverse !== 'boolean') invalidArgument('reverse must be a boolean');
  return {
    since: query.since === undefined ? 0 : checkInteger('since', query.since, 0),
    limit: query.limit === undefined ? undefined : checkInteger('limit', query.limit, 0),
    reverse: query.reverse === true,
  };
}

/** Rebuilds a publication from its stored form. `info` is absent (not `undefined`) when none was stored. */
export function toPublication(offset: number, data: string, info: string | null | undefined, time: number): Publication {
  return info == null
    ? { offset, data: decodeJson(data), time }
    : { offset, data: decodeJson(data), info: decodeJson(info) as ClientInfo, time };
}

/** The common options with defaults applied. */
export interface ResolvedBaseOptions {
  readonly now: () => number;
  readonly randomId: () => string;
  readonly dedupeWindowMs: number;
  readonly emptyStreamTtlMs: number;
  readonly sweepIntervalMs: number;
  readonly timers: Timers;
}

/**
 * Resolves the common options, checking each.
 *
 * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for an option of the wrong type or out of range.
 */
export function resolveBaseOptions(options: HistoryStoreBaseOptions): ResolvedBaseOptions {
  if (typeof options !== 'object' || options === null) invalidArgument('options must be an object');
  const { now = Date.now, randomId = randomEpoch, timers = systemTimers } = options;
  if (typeof now !== 'function') invalidArgument('now must be a function');
  if (typeof randomId !== 'function') invalidArgument('randomId must be a function');
  return {
    now,
    randomId,
    dedupeWindowMs: options.dedupeWindowMs === undefined ? DEFAULT_DEDUPE_WINDOW_MS : checkDuration('dedupeWindowMs', options.dedupeWindowMs, true),
    emptyStreamTtlMs:
      options.emptyStreamTtlMs === undefined ? DEFAULT_EMPTY_STREAM_TTL_MS : checkDuration('emptyStreamTtlMs', options.emptyStreamTtlMs),
    sweepIntervalMs:
      options.sweepIntervalMs === undefined ? DEFAULT_SWEEP_INTERVAL_MS : checkDuration('sweepIntervalMs', options.sweepIntervalMs),
    timers,
  };
}

/** Calls `randomId` and checks that it made a usable epoch. */
export function newEpoch(randomId: () => string): string {
  const epoch = randomId();
  if (typeof epoch !== 'string' || epoch === '') invalidArgument('randomId must return a non-empty string');
  return epoch;
}
