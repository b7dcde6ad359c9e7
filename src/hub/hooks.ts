/**
 * HTTP hooks: the hub asks the application's backend whether to accept a connect, subscribe or publish.
 *
 * Each hook POSTs a JSON {@link HookRequest} to its URL and reads one of three answers:
 *
 * ```json
 * { "result": { "userId": "alice", "info": { "name": "Alice" } } }   // accept, with optional overrides
 * { "error": { "code": 403, "message": "not a member" } }            // refuse this command
 * { "disconnect": { "code": 4502, "reason": "banned" } }             // refuse and close the connection
 * ```
 *
 * A backend that is slow, down, redirects, answers non-2xx, answers too much or answers something else gets
 * an {@link HookDecision} of type `unavailable` (the hub replies `unavailable`, the client may retry). A hook
 * never throws and never rejects.
 *
 * @module
 */

import { parseCapabilities, type Capabilities } from './capabilities.js';

/** What the hub tells the backend. */
export interface HookRequest {
  readonly clientId: string;
  /** The authenticated user (`''` for anonymous connections and for connect hooks without a token). */
  readonly userId: string;
  /** How the client reached the hub: `websocket`, `sse`, `long-polling`. */
  readonly transport: string;
  /** The client's IP address as the hub sees it (after trusted-proxy handling). */
  readonly remoteAddress: string;
  /** Subscribe and publish hooks: the channel. */
  readonly channel?: string;
  /** Publish hook: the data to publish. Connect hook: data the client sent with connect, if any. */
  readonly data?: unknown;
}

/** What the backend may change when it accepts. Each hook accepts only the fields listed for it. */
export interface HookOverrides {
  /** Connect: the user id to use instead of the token's (non-empty string). */
  readonly userId?: string;
  /** Connect: when the connection expires, ms since the epoch. */
  readonly expiresAt?: number;
  /** Connect: connection info (replaces the token's `info`). Subscribe: channel-specific presence info. */
  readonly info?: unknown;
  /** Publish: the data to publish instead of the client's. `null` is a value; absent means unchanged. */
  readonly data?: unknown;
  /** Connect: capabilities from a `channels` field in the token's claim format (replace the token's). */
  readonly capabilities?: Capabilities;
}

/** Why a hook could not decide. */
export type HookFailure = 'timeout' | 'network' | 'status' | 'too_large' | 'bad_response' | 'bad_request';

/** A hook's answer. */
export type HookDecision =
  | { readonly type: 'allow'; readonly overrides: HookOverrides }
  /** Refuse the command; the hub replies `permission_denied` with `message`. */
  | { readonly type: 'reject'; readonly code: number; readonly message: string }
  /** Close the connection with `code` (4000-4999) and `reason`. */
  | { readonly type: 'disconnect'; readonly code: number; readonly reason: string }
  /** The backend could not decide; the hub replies `unavailable`. `status` is the HTTP status for `status`. */
  | { readonly type: 'unavailable'; readonly reason: HookFailure; readonly status?: number };

/** The hooks returned by {@link createHttpHooks}: one per configured URL. */
export interface HttpHooks {
  onConnect?(request: HookRequest): Promise<HookDecision>;
  onSubscribe?(request: HookRequest): Promise<HookDecision>;
  onPublish?(request: HookRequest): Promise<HookDecision>;
}

/** Options of {@link createHttpHooks}. */
export interface HttpHooksOptions {
  /** Asked before a connection is accepted. */
  readonly connectUrl?: string;
  /** Asked before each subscribe. */
  readonly subscribeUrl?: string;
  /** Asked before each publish; may transform the data. */
  readonly publishUrl?: string;
  /**
   * Whole-request deadline (connect, send, response headers and body), in ms. A hook sits on the command's
   * path, and the client's own ack timeout should be longer than this.
   * @default 3000
   */
  readonly timeoutMs?: number;
  /** Largest response body read, in bytes; a longer one is `too_large`. @default 65536 */
  readonly maxResponseBytes?: number;
  /** Extra request headers, e.g. `{ authorization: 'Bearer …' }` so that the backend knows it is the hub. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Default of {@link HttpHooksOptions.timeoutMs}. */
export const DEFAULT_HOOK_TIMEOUT_MS = 3000;
/** Default of {@link HttpHooksOptions.maxResponseBytes}. */
export const DEFAULT_HOOK_MAX_RESPONSE_BYTES = 64 * 1024;

type HookKind = 'connect' | 'subscribe' | 'publish';

const OVERRIDES_ALLOWED: Readonly<Record<HookKind, readonly string[]>> = {
  connect: ['userId', 'expiresAt', 'info', 'channels'],
  subscribe: ['info'],
  publish: ['data'],
};

/**
 * Reads a response body up to `limit` bytes. Resolves to the bytes, or to `undefined` when the body is longer
 * (the stream is then cancelled, so that the connection is not kept busy). Rejects when the stream fails
 * (for example when its request's signal aborts).
 */
export async function readLimitedBody(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array | undefined> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => undefined);
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

function checkUrl(name: string, value: string | undefined): URL | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${name} must be an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`${name} must be an http: or https: URL`);
  if (url.username !== '' || url.password !== '') throw new TypeError(`${name} must not carry credentials; use headers`);
  return url;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const BAD: HookDecision = Object.freeze({ type: 'unavailable', reason: 'bad_response' });

/** Interprets a parsed backend answer for hook `kind`. */
function decide(kind: HookKind, answer: unknown): HookDecision {
  if (!isPlainObject(answer)) return BAD;
  const keys = Object.keys(answer);
  if (keys.length !== 1) return BAD;
  const key = keys[0]!;
  const body = answer[key];
  if (!isPlainObject(body)) return BAD;
  if (key === 'result') return decideResult(kind, body);
  if (key === 'error') {
    const { code, message } = body;
    if (Object.keys(body).some((k) => k !== 'code' && k !== 'message')) return BAD;
    if (!Number.isInteger(code) || (code as number) < 400 || (code as number) > 4999) return BAD;
    if (message !== undefined && (typeof message !== 'string' || message.length > 1024)) return BAD;
    return { type: 'reject', code: code as number, message: message ?? 'permission denied' };
  }
  if (key === 'disconnect') {
    const { code, reason } = body;
    if (Object.keys(body).some((k) => k !== 'code' && k !== 'reason')) return BAD;
    // 4000-4999 is the application range of WebSocket close codes; the reason must fit a close frame.
    if (!Number.isInteger(code) || (code as number) < 4000 || (code as number) > 4999) return BAD;
    if (reason !== undefined && (typeof reason !== 'string' || Buffer.byteLength(reason) > 123)) return BAD;
    return { type: 'disconnect', code: code as number, reason: reason ?? '' };
  }
  return BAD;
}

function decideResult(kind: HookKind, result: Record<string, unknown>): HookDecision {
  const allowed = OVERRIDES_ALLOWED[kind];
  const overrides: { -readonly [K in keyof HookOverrides]: HookOverrides[K] } = {};
  for (const field of Object.keys(result)) {
    if (!allowed.includes(field)) return BAD;
    const value = result[field];
    switch (field) {
      case 'userId':
        if (typeof value !== 'string' || value.length === 0 || value.length > 255) return BAD;
        overrides.userId = value;
        break;
      case 'expiresAt':
        if (!Number.isSafeInteger(value) || (value as number) <= 0) return BAD;
        overrides.expiresAt = value as number;
        break;
      case 'channels':
        try {
          overrides.capabilities = parseCapabilities(value);
        } catch {
          return BAD;
        }
        break;
      case 'info':
        overrides.info = value;
        break;
      case 'data':
        overrides.data = value;
        break;
    }
  }
  return { type: 'allow', overrides: Object.freeze(overrides) };
}

/**
 * Creates the hooks for the URLs given: `onConnect` only when `connectUrl` is set, and so on.
 *
 * Requests are `POST` with a JSON body, `redirect: 'error'` (a redirect never carries the request, or the
 * configured headers, elsewhere) and one deadline for the whole exchange. Throws `TypeError` synchronously on
 * a bad option.
 *
 * @example
 * ```ts
 * const hooks = createHttpHooks({ subscribeUrl: 'http://127.0.0.1:3000/volley/subscribe', timeoutMs: 1000 });
 * const decision = await hooks.onSubscribe!({ clientId, userId, transport: 'websocket', remoteAddress, channel });
 * if (decision.type !== 'allow') …
 * ```
 */
export function createHttpHooks(options: HttpHooksOptions): HttpHooks {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const timeoutMs = options.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) throw new TypeError('timeoutMs must be an integer from 1 to 60000');
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_HOOK_MAX_RESPONSE_BYTES;
  if (!Number.isInteger(maxResponseBytes) || maxResponseBytes < 2 || maxResponseBytes > 16 * 1024 * 1024) {
    throw new TypeError('maxResponseBytes must be an integer from 2 to 16 MiB');
  }
  const baseHeaders = new Headers(options.headers ?? {}); // throws TypeError on CR/LF or bad names
  baseHeaders.set('content-type', 'application/json');
  baseHeaders.set('accept', 'application/json');

  const call = async (kind: HookKind, url: URL, request: HookRequest): Promise<HookDecision> => {
    let body: string;
    try {
      body = JSON.stringify(request);
    } catch {
      return { type: 'unavailable', reason: 'bad_request' };
    }
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const response = await fetch(url, { method: 'POST', headers: baseHeaders, body, redirect: 'error', signal });
      if (response.status < 200 || response.status > 299) {
        await response.body?.cancel().catch(() => undefined);
        return { type: 'unavailable', reason: 'status', status: response.status };
      }
      const declared = Number(response.headers.get('content-length') ?? '0');
      if (declared > maxResponseBytes) {
        await response.body?.cancel().catch(() => undefined);
        return { type: 'unavailable', reason: 'too_large' };
      }
      const bytes = await readLimitedBody(response.body, maxResponseBytes);
      if (bytes === undefined) return { type: 'unavailable', reason: 'too_large' };
      let answer: unknown;
      try {
        answer = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch {
        return BAD;
      }
      return decide(kind, answer);
    } catch {
      return { type: 'unavailable', reason: signal.aborted ? 'timeout' : 'network' };
    }
  };

  const hooks: HttpHooks = {};
  const connectUrl = checkUrl('connectUrl', options.connectUrl);
  const subscribeUrl = checkUrl('subscribeUrl', options.subscribeUrl);
  const publishUrl = checkUrl('publishUrl', options.publishUrl);
  if (connectUrl) hooks.onConnect = (request) => call('connect', connectUrl, request);
  if (subscribeUrl) hooks.onSubscribe = (request) => call('subscribe', subscribeUrl, request);
  if (publishUrl) hooks.onPublish = (request) => call('publish', publishUrl, request);
  return Object.freeze(hooks);
}
