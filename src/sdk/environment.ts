/**
 * What the SDK needs from its platform, as small structural types: a WebSocket constructor, `fetch`,
 * `EventSource`, timers and randomness. Browsers provide all of them globally; Node 20 provides `fetch` and
 * timers, and takes Volley's own WebSocket (`import { WebSocket } from 'volley'`). Everything is injectable,
 * which is also how the tests drive time.
 *
 * @module
 */

/** The part of the WHATWG WebSocket the SDK uses. Browsers' `WebSocket` and Volley's Node `WebSocket` fit. */
export interface WebSocketLike {
  readonly readyState: number;
  /** The subprotocol the server selected, or `''`. */
  readonly protocol: string;
  send(data: string): unknown;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: any) => void): void;
}

/** A WebSocket constructor: `new WebSocket(url, protocols)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The part of the WHATWG EventSource the SDK uses. */
export interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}

/** An EventSource constructor. */
export type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

/** A readable byte stream, as `Response.body` is. */
export interface ByteStreamLike {
  getReader(): {
    read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
    cancel(reason?: unknown): Promise<void>;
  };
}

/** The part of a fetch `Response` the SDK uses. */
export interface ResponseLike {
  readonly status: number;
  readonly ok: boolean;
  readonly body: ByteStreamLike | null;
  text(): Promise<string>;
}

/** The part of a fetch request's options the SDK uses. */
export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  cache?: 'no-store';
}

/** A `fetch` function. */
export type FetchLike = (url: string, init?: FetchInit) => Promise<ResponseLike>;

/** Time, as the SDK sees it: injectable so that tests can drive reconnect delays and keepalives. */
export interface Clock {
  /** Milliseconds since the Unix epoch (compared with the hub's `expiresAt`). */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Longest delay timers accept (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

/** The platform's clock: `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, Math.min(Math.max(0, ms), MAX_TIMER_MS)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A global by name, or undefined (without TypeScript's DOM library). */
export function globalValue<T>(name: string): T | undefined {
  const value = (globalThis as Record<string, unknown>)[name];
  return value === undefined || value === null ? undefined : (value as T);
}

/** The global `fetch`, bound to `globalThis` (browsers refuse an unbound call). */
export function globalFetch(): FetchLike | undefined {
  const fetch = globalValue<(...args: unknown[]) => Promise<ResponseLike>>('fetch');
  return fetch === undefined ? undefined : (fetch.bind(globalThis) as FetchLike);
}

/**
 * A random UUID for idempotency keys: `crypto.randomUUID()` where available, otherwise a version-4 UUID from
 * `crypto.getRandomValues` (insecure browser contexts lack `randomUUID`), otherwise from `Math.random`.
 */
export function randomUuid(): string {
  const crypto = globalValue<{ randomUUID?: () => string; getRandomValues?: (array: Uint8Array) => Uint8Array }>('crypto');
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof crypto?.getRandomValues === 'function') crypto.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
