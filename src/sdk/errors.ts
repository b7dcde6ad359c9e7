/**
 * The SDK's one error type, {@link VolleyError}: a stable `code` that is either one of the hub's reply codes
 * (`permission_denied`, `rate_limited`, …, docs/protocol.md §6) or one of the client's own
 * `VOLLEY_ERR_*` codes ({@link ClientErrorCode}).
 *
 * @module
 */

import type { HubErrorCode } from '../hub/wire.js';

/**
 * Codes of errors the SDK raises itself (the hub's codes are passed through unchanged).
 *
 * @example
 * ```ts
 * try {
 *   await room.publish({ text: 'hi' });
 * } catch (error) {
 *   if (error instanceof VolleyError && error.code === ClientErrorCode.TIMEOUT) {
 *     await room.publish({ text: 'hi' }, { idempotencyKey: error.idempotencyKey }); // safe retry
 *   }
 * }
 * ```
 */
export const ClientErrorCode = {
  /** No reply within the command's timeout (`publishTimeoutMs` / `timeoutMs`). The command may have run. */
  TIMEOUT: 'VOLLEY_ERR_TIMEOUT',
  /** `outbox.maxMessages` publishes are already waiting for their ack. */
  OUTBOX_FULL: 'VOLLEY_ERR_OUTBOX_FULL',
  /** The connection ended before the reply came. The command may have run. */
  CONNECTION_CLOSED: 'VOLLEY_ERR_CONNECTION_CLOSED',
  /** The client stopped: `disconnect()` was called, or the server said not to come back (4500-4999). */
  DISCONNECTED: 'VOLLEY_ERR_DISCONNECTED',
  /** The channel was unsubscribed before the subscription completed. */
  UNSUBSCRIBED: 'VOLLEY_ERR_UNSUBSCRIBED',
  /** A caller passed a bad argument or option. Thrown synchronously. */
  INVALID_ARGUMENT: 'VOLLEY_ERR_INVALID_ARGUMENT',
  /** None of the configured transports is available in this environment (no WebSocket, fetch…). */
  NO_TRANSPORT: 'VOLLEY_ERR_NO_TRANSPORT',
  /** `getToken` threw or returned something that is not a non-empty string. */
  TOKEN: 'VOLLEY_ERR_TOKEN',
  /** The server sent something that is not a protocol message. The connection is dropped and reopened. */
  PROTOCOL: 'VOLLEY_ERR_PROTOCOL',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Every code a {@link VolleyError} can carry. */
export type VolleyErrorCode = HubErrorCode | ClientErrorCode;

/** Extra facts some errors carry. */
export interface VolleyErrorDetails {
  /** For `rate_limited`: when a retry can succeed. */
  readonly retryAfterMs?: number;
  /** For a failed publish: its idempotency key, to retry it without a duplicate. */
  readonly idempotencyKey?: string;
  /** For errors caused by a disconnect: the close code. */
  readonly closeCode?: number;
  readonly cause?: unknown;
}

/**
 * An error from the SDK or the hub.
 *
 * @example
 * ```ts
 * room.publish({ text: 'hi' }).catch((error: VolleyError) => {
 *   if (error.code === 'permission_denied') showReadOnlyBanner();
 * });
 * ```
 */
export class VolleyError extends Error {
  /** Stable: never renamed once released. */
  readonly code: VolleyErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly idempotencyKey: string | undefined;
  readonly closeCode: number | undefined;

  constructor(code: VolleyErrorCode, message: string, details: VolleyErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'VolleyError';
    this.code = code;
    this.retryAfterMs = details.retryAfterMs;
    this.idempotencyKey = details.idempotencyKey;
    this.closeCode = details.closeCode;
  }
}

/** Builds a VolleyError from a hub error reply (`{code, message, retryAfterMs?}`), tolerating odd shapes. */
export function fromWireError(error: unknown, idempotencyKey?: string): VolleyError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  const code = typeof e['code'] === 'string' ? (e['code'] as HubErrorCode) : ('internal' as HubErrorCode);
  const message = typeof e['message'] === 'string' ? e['message'] : code;
  const retryAfterMs = typeof e['retryAfterMs'] === 'number' ? e['retryAfterMs'] : undefined;
  return new VolleyError(code, message, {
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
  });
}

/** A caller's mistake: thrown synchronously. */
export function invalidArgument(message: string): VolleyError {
  return new VolleyError(ClientErrorCode.INVALID_ARGUMENT, message);
}
