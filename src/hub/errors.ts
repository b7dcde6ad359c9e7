/**
 * Errors the hub raises: a {@link HubError} becomes an `error` reply with a stable code; a
 * {@link DisconnectError} ends the connection with a disconnect code. Hooks throw them to refuse.
 *
 * @module
 */

import { DisconnectCode, HubErrorCode, type WireError } from './wire.js';

/** Refuses one command: the client gets `{ id, error: { code, message } }` and stays connected. */
export class HubError extends Error {
  readonly code: HubErrorCode;
  readonly retryAfterMs: number | undefined;
  constructor(code: HubErrorCode, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'HubError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }

  /** The error as it goes on the wire. */
  toWire(): WireError {
    return this.retryAfterMs === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, retryAfterMs: this.retryAfterMs };
  }
}

/** Ends the connection with `code` (see {@link DisconnectCode}) and `reason`. */
export class DisconnectError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string) {
    super(reason);
    this.name = 'DisconnectError';
    this.code = code;
    this.reason = reason;
  }
}

/** Maps anything thrown by a hook or an engine to what the client may see: internal details never leak. */
export function toWireError(error: unknown): WireError {
  if (error instanceof HubError) return error.toWire();
  return { code: HubErrorCode.INTERNAL, message: 'internal error' };
}

export { DisconnectCode, HubErrorCode };
