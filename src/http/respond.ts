/**
 * Writing HTTP responses: JSON bodies, the API's error shape `{ "error": { "code", "message" } }`, and the
 * mapping from hub error codes to HTTP statuses.
 *
 * @module
 */

import type { ServerResponse } from 'node:http';
import { HubErrorCode } from '../hub/wire.js';

/**
 * Error codes of the HTTP API beyond the hub's own ({@link HubErrorCode}): each error body carries one of
 * them in `error.code` (docs/openapi.json lists them).
 */
export const ApiErrorCode = {
  ...HubErrorCode,
  /** The route exists but not with this method (405, with `Allow`). */
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  /** The body is larger than the API's limit (413). */
  PAYLOAD_TOO_LARGE: 'payload_too_large',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** HTTP status of each error code; a code missing here is answered with 500. */
const STATUS: ReadonlyMap<string, number> = new Map([
  [ApiErrorCode.BAD_REQUEST, 400],
  [ApiErrorCode.UNAUTHORIZED, 401],
  [ApiErrorCode.PERMISSION_DENIED, 403],
  [ApiErrorCode.NOT_FOUND, 404],
  [ApiErrorCode.METHOD_NOT_ALLOWED, 405],
  [ApiErrorCode.ALREADY_SUBSCRIBED, 409],
  [ApiErrorCode.NOT_SUBSCRIBED, 409],
  [ApiErrorCode.PAYLOAD_TOO_LARGE, 413],
  [ApiErrorCode.LIMIT_EXCEEDED, 429],
  [ApiErrorCode.RATE_LIMITED, 429],
  [ApiErrorCode.TOKEN_EXPIRED, 401],
  [ApiErrorCode.METHOD_NOT_FOUND, 404],
  [ApiErrorCode.INTERNAL, 500],
  [ApiErrorCode.UNAVAILABLE, 503],
  [ApiErrorCode.TIMEOUT, 504],
]);

/** The HTTP status for an error code (500 for a code it does not know). */
export function statusOf(code: string): number {
  return STATUS.get(code) ?? 500;
}

/** An error the API answers with its own status and `{ error: { code, message } }`. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  /** Extra response headers (`Allow` for 405, `WWW-Authenticate` for 401). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ApiErrorCode, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = statusOf(code);
    this.headers = headers;
  }
}

/** Headers every JSON answer carries: never cached, never sniffed as something else. */
const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

/** Sends `body` as JSON with `status`. Does nothing when the response was already sent. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** Sends the API error shape. */
export function sendError(res: ServerResponse, error: ApiError): void {
  sendJson(res, error.status, { error: { code: error.code, message: error.message } }, error.headers);
}
