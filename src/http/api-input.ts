/**
 * Validation of HTTP API requests: each parser takes a decoded JSON body (or the query string) and returns a
 * fresh, typed request built from the fields it checked, or throws a 400 {@link ApiError} whose message names
 * the offending field. Unknown fields and query parameters are refused, as the hub protocol refuses them.
 *
 * Channel names follow the hub's grammar (`nameProblem` from hub/validate.ts), so anything the API accepts a
 * client could subscribe to.
 *
 * @module
 */

import { MAX_IDEMPOTENCY_KEY_LENGTH, nameProblem } from '../hub/validate.js';
import { ApiError, ApiErrorCode } from './respond.js';

/** Limits the parsers apply. */
export interface InputLimits {
  /** Longest channel name (the hub's `commands.maxChannelLength`). */
  readonly maxChannelLength: number;
  /** Largest history `limit`, and the default when none is given (the hub's `commands.maxHistoryLimit`). */
  readonly maxHistoryLimit: number;
  /** Most channels in one broadcast. */
  readonly maxBroadcastChannels: number;
}

/** `POST /api/publish`. */
export interface PublishRequest {
  readonly channel: string;
  readonly data: unknown;
  readonly idempotencyKey?: string;
}

/** `POST /api/broadcast`. */
export interface BroadcastRequest {
  readonly channels: readonly string[];
  readonly data: unknown;
  readonly idempotencyKey?: string;
}

/** `POST /api/disconnect`: clients whose id is `clientId` or whose user is `userId`. */
export interface DisconnectRequest {
  readonly clientId?: string;
  readonly userId?: string;
  readonly reason?: string;
  readonly reconnect?: boolean;
}

/** `GET /api/history`. */
export interface HistoryRequest {
  readonly channel: string;
  readonly since?: number;
  readonly limit: number;
  readonly reverse: boolean;
}

/** `GET /api/presence`. */
export interface PresenceRequest {
  readonly channel: string;
  readonly countsOnly: boolean;
}

/** Longest disconnect reason, in UTF-8 bytes (it goes into a close frame, whose reason may hold 123). */
export const MAX_REASON_BYTES = 120;
/** Longest client id or user id accepted by `/api/disconnect`. */
export const MAX_ID_LENGTH = 1024;

function bad(message: string): ApiError {
  return new ApiError(ApiErrorCode.BAD_REQUEST, message);
}

/** `"name"`, shortened so an error message never echoes much of what a client sent. */
function quote(name: string): string {
  return JSON.stringify(name.length > 32 ? `${name.slice(0, 32)}…` : name);
}

/** The body as a plain object with only `allowed` fields. */
function fields(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body must be a JSON object');
  const record = body as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) throw bad(`unknown field ${quote(key)} (allowed: ${allowed.join(', ')})`);
  }
  return record;
}

function channelOf(value: unknown, name: string, limits: InputLimits): string {
  if (value === undefined) throw bad(`"${name}" is required`);
  const problem = nameProblem(value, limits.maxChannelLength);
  if (problem !== undefined) throw bad(`"${name}" ${problem}`);
  return value as string;
}

function dataOf(record: Record<string, unknown>): unknown {
  if (!Object.hasOwn(record, 'data')) throw bad('"data" is required (any JSON value, null included)');
  return record.data;
}

function idempotencyKeyOf(value: unknown): { idempotencyKey?: string } {
  if (value === undefined) return {};
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw bad(`"idempotencyKey" must be a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  return { idempotencyKey: value };
}

/** Checks a `POST /api/publish` body. */
export function parsePublish(body: unknown, limits: InputLimits): PublishRequest {
  const record = fields(body, ['channel', 'data', 'idempotencyKey']);
  return {
    channel: channelOf(record.channel, 'channel', limits),
    data: dataOf(record),
    ...idempotencyKeyOf(record.idempotencyKey),
  };
}

/** Checks a `POST /api/broadcast` body. */
export function parseBroadcast(body: unknown, limits: InputLimits): BroadcastRequest {
  const record = fields(body, ['channels', 'data', 'idempotencyKey']);
  const list = record.channels;
  if (list === undefined) throw bad('"channels" is required');
  if (!Array.isArray(list) || list.length === 0 || list.length > limits.maxBroadcastChannels) {
    throw bad(`"channels" must be an array of 1 to ${limits.maxBroadcastChannels} channel names`);
  }
  const seen = new Map<string, number>();
  const channels = list.map((value: unknown, i: number) => {
    const channel = channelOf(value, `channels[${i}]`, limits);
    const first = seen.get(channel);
    if (first !== undefined) throw bad(`"channels[${i}]" repeats "channels[${first}]"`);
    seen.set(channel, i);
    return channel;
  });
  return { channels, data: dataOf(record), ...idempotencyKeyOf(record.idempotencyKey) };
}

/** Checks a `POST /api/disconnect` body. */
export function parseDisconnect(body: unknown): DisconnectRequest {
  const record = fields(body, ['clientId', 'userId', 'reason', 'reconnect']);
  const out: { clientId?: string; userId?: string; reason?: string; reconnect?: boolean } = {};
  for (const key of ['clientId', 'userId'] as const) {
    const value = record[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
      throw bad(`"${key}" must be a string of 1 to ${MAX_ID_LENGTH} characters`);
    }
    out[key] = value;
  }
  if (out.clientId === undefined && out.userId === undefined) throw bad('"clientId" or "userId" is required');
  if (record.reason !== undefined) {
    if (typeof record.reason !== 'string' || Buffer.byteLength(record.reason) > MAX_REASON_BYTES) {
      throw bad(`"reason" must be a string of at most ${MAX_REASON_BYTES} bytes in UTF-8`);
    }
    out.reason = record.reason;
  }
  if (record.reconnect !== undefined) {
    if (typeof record.reconnect !== 'boolean') throw bad('"reconnect" must be true or false');
    out.reconnect = record.reconnect;
  }
  return out;
}

/** The query parameters, each at most once and all of them among `allowed`. */
function queryOf(params: URLSearchParams, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of params) {
    if (!allowed.includes(key)) {
      throw bad(allowed.length === 0 ? `unknown query parameter ${quote(key)}` : `unknown query parameter ${quote(key)} (allowed: ${allowed.join(', ')})`);
    }
    if (out.has(key)) throw bad(`query parameter "${key}" is given more than once`);
    out.set(key, value);
  }
  return out;
}

function integerParam(text: string | undefined, name: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw bad(`"${name}" must be an integer from ${min} to ${max}`);
  return value;
}

function booleanParam(text: string | undefined, name: string): boolean {
  if (text === undefined || text === 'false') return false;
  if (text === 'true') return true;
  throw bad(`"${name}" must be true or false`);
}

/** Checks the query of `GET /api/history`. */
export function parseHistoryQuery(params: URLSearchParams, limits: InputLimits): HistoryRequest {
  const query = queryOf(params, ['channel', 'since', 'limit', 'reverse']);
  const since = integerParam(query.get('since'), 'since', 0, Number.MAX_SAFE_INTEGER);
  return {
    channel: channelOf(query.get('channel'), 'channel', limits),
    ...(since !== undefined ? { since } : {}),
    limit: integerParam(query.get('limit'), 'limit', 0, limits.maxHistoryLimit) ?? limits.maxHistoryLimit,
    reverse: booleanParam(query.get('reverse'), 'reverse'),
  };
}

/** Checks the query of `GET /api/presence`. */
export function parsePresenceQuery(params: URLSearchParams, limits: InputLimits): PresenceRequest {
  const query = queryOf(params, ['channel', 'countsOnly']);
  return { channel: channelOf(query.get('channel'), 'channel', limits), countsOnly: booleanParam(query.get('countsOnly'), 'countsOnly') };
}

/** Checks that a route taking no parameters got none. */
export function parseNoQuery(params: URLSearchParams): void {
  queryOf(params, []);
}
