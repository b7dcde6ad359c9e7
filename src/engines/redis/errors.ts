/**
 * Errors of the Redis engines. Argument and state errors are the shared {@link EngineError}s; what only a networked
 * engine can meet (Redis unreachable, or Redis refusing a command) gets one of the two codes below.
 *
 * @module
 */

import { EngineOutageCode } from '../../hub/engine-errors.js';

/**
 * Stable codes of the errors only the Redis engines raise: the hub's engine outage codes, which it answers as
 * `unavailable` (hub/engine-errors.ts). Never renamed once released.
 */
export const RedisErrorCode = {
  /**
   * Redis could not be reached in time: not connected within `offlineTimeoutMs`, the connection dropped while the
   * command was in flight, or no reply within `commandTimeoutMs`. When the command was already sent its outcome is
   * unknown (an append may have been stored): retry with the same idempotency key.
   */
  UNAVAILABLE: EngineOutageCode.UNAVAILABLE,
  /** Redis answered with an error (READONLY after a failover, OOM, a script error…). Nothing was changed. */
  FAILED: EngineOutageCode.FAILED,
} as const;

/** One of {@link RedisErrorCode}. */
export type RedisErrorCode = (typeof RedisErrorCode)[keyof typeof RedisErrorCode];

/** Redis was unreachable or refused a command. `cause` holds the client library's error, when there was one. */
export class RedisEngineError extends Error {
  /** Stable machine-readable code. */
  readonly code: RedisErrorCode;

  constructor(code: RedisErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RedisEngineError';
    this.code = code;
  }
}

/** Messages of ioredis errors that mean "the connection, not the command, failed". */
const CONNECTION_FAILURE = /Connection is closed|Stream isn't writeable|max retries per request|Command timed out|ECONN|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|socket/i;

/**
 * Turns whatever a command rejected with into a {@link RedisEngineError} naming what was attempted (`what`, e.g.
 * `'append to chat:1'`). Errors that already carry a stable code pass through unchanged.
 */
export function toEngineError(error: unknown, what: string): Error {
  if (error instanceof RedisEngineError) return error;
  if (typeof (error as { code?: unknown } | null)?.code === 'string' && String((error as { code: string }).code).startsWith('VOLLEY_ERR_')) {
    return error as Error;
  }
  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : '';
  if (name === 'MaxRetriesPerRequestError' || CONNECTION_FAILURE.test(message)) {
    return new RedisEngineError(RedisErrorCode.UNAVAILABLE, `Redis unavailable: ${what} failed (${message})`, error);
  }
  return new RedisEngineError(RedisErrorCode.FAILED, `Redis refused ${what}: ${message}`, error);
}
