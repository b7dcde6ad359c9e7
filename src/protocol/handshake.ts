/**
 * The opening handshake of RFC 6455 §4, both roles, without I/O: validate a parsed HTTP request or response
 * head and build the reply or request as text to write as UTF-8 (heads are ASCII; only an error response's body
 * may hold other characters, and its `Content-Length` counts UTF-8 bytes).
 *
 * Anything the peer sent is judged, never trusted: a bad request head yields a rejection (status, message,
 * headers) and a bad response head a failure message; neither path throws. Arguments given by the caller
 * (extra headers, subprotocol names) are checked and throw `VOLLEY_ERR_INVALID_ARGUMENT`, so no caller input can
 * inject a header line.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { HANDSHAKE_GUID, WEBSOCKET_VERSION } from './constants.js';
import { invalidArgument } from './errors.js';
import { isToken, parseExtensions, parseTokenList } from './header-tokens.js';
import type { ExtensionOffer } from './types.js';

/** Header values as Node parses them: lower-case names; repeated headers joined or listed; absent ones `undefined`. */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/**
 * `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)) (RFC 6455 §1.3, §4.2.2).
 *
 * @example
 * ```ts
 * acceptKey('dGhlIHNhbXBsZSBub25jZQ=='); // 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
 * ```
 */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + HANDSHAKE_GUID, 'latin1').digest('base64');
}

/**
 * A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded (RFC 6455 §4.1).
 *
 * @param randomBytes - Source of randomness, e.g. `crypto.randomBytes` (must be cryptographically strong: the
 *   key must be unpredictable per §10.3).
 * @throws WebSocketError `VOLLEY_ERR_INVALID_ARGUMENT` when `randomBytes` does not return 16 bytes.
 */
export function generateKey(randomBytes: (size: number) => Uint8Array): string {
  const bytes = randomBytes(16);
  if (!(bytes instanceof Uint8Array) || bytes.length !== 16) invalidArgument('randomBytes(16) must return 16 bytes');
  return Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString('base64');
}

/** 16 bytes in base64: 22 characters of the standard alphabet and `==` (fixed length, no backtracking). */
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

// ---------------------------------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------------------------------

/** The parts of a request head the server checks; Node's `IncomingMessage` has this shape. */
export interface UpgradeRequestHead {
  /** Request method as sent (case-sensitive). */
  method: string;
  /** `"1.1"` for HTTP/1.1. */
  httpVersion: string;
  /**
   * Header values by lower-case name. A header may be missing even though the client sent it (Node drops
   * headers past `maxHeadersCount`); that is treated as invalid, never as a crash.
   */
  headers: HeaderMap;
}

/** A request that is a valid WebSocket opening handshake. */
export interface UpgradeRequestAccepted {
  readonly ok: true;
  /** The client's `Sec-WebSocket-Key`, to pass to {@link buildUpgradeResponse}. */
  readonly key: string;
  /** Offered subprotocols in the client's order of preference; `[]` when none. */
  readonly protocols: string[];
  /** Offered extensions in order; `[]` when none. Negotiating them is the caller's job. */
  readonly extensions: ExtensionOffer[];
  /** The `Origin` header, to check against an allowlist (answer 403 on a mismatch, RFC 6455 §10.2). */
  readonly origin: string | undefined;
}

/** A request to refuse: pass these fields to {@link buildErrorResponse}. */
export interface UpgradeRequestRejected {
  readonly ok: false;
  /** HTTP status: 400, 405 or 426. */
  readonly status: number;
  /** Short, fixed text naming the header at fault (no peer data echoed). */
  readonly message: string;
  /** Headers the response must carry (`Allow` with 405; `Upgrade` and `Sec-WebSocket-Version` with 426). */
  readonly headers: Record<string, string>;
}

/** Outcome of {@link validateUpgradeRequest}. */
export type UpgradeRequestResult = UpgradeRequestAccepted | UpgradeRequestRejected;

function reject(status: number, message: string, headers: Record<string, string> = {}): UpgradeRequestRejected {
  return { ok: false, status, message, headers };
}

/** Reads an own property only, so a name such as `constructor` never reaches `Object.prototype`. */
function ownHeader(headers: HeaderMap, name: string): unknown {
  return Object.hasOwn(headers, name) ? headers[name] : undefined;
}

/** A header that must appear once: its value, `undefined` when absent, `null` when repeated or not a string. */
function singleHeader(headers: HeaderMap, name: string): string | undefined | null {
  const value = ownHeader(headers, name);
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : null;
}

/**
 * A list header (`1#element`): repeated values are joined with `", "` as RFC 7230 §3.2.2 allows.
 * `undefined` when absent, `null` when not made of strings.
 */
function listHeader(headers: HeaderMap, name: string): string | undefined | null {
  const value = ownHeader(headers, name);
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (!Array.isArray(value) || value.length === 0) return null;
  for (const item of value) if (typeof item !== 'string') return null;
  return value.join(', ');
}

/** Whether a comma-separated list contains `token`, compared ASCII case-insensitively. Linear in the value. */
function listHasToken(list: string, token: string): boolean {
  let start = 0;
  while (start <= list.length) {
    let end = list.indexOf(',', start);
    if (end === -1) end = list.length;
    if (trimOws(list, start, end).toLowerCase() === token) return true;
    start = end + 1;
  }
  return false;
}

/** `value.slice(start, end)` without leading and trailing SP / HTAB. */
function trimOws(value: string, start: number, end: number): string {
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return value.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Whether an `"x.y"` HTTP version is 1.1 or higher. */
function isHttp11OrHigher(version: unknown): boolean {
  if (typeof version !== 'string') return false;
  const dot = version.indexOf('.');
  if (dot <= 0 || dot === version.length - 1 || version.length > 8) return false;
  for (let i = 0; i < version.length; i++) {
    const c = version.charCodeAt(i);
    if (i !== dot && (c < 0x30 || c > 0x39)) return false;
  }
  const major = Number(version.slice(0, dot));
  const minor = Number(version.slice(dot + 1));
  return major > 1 || (major === 1 && minor >= 1);
}

const VERSION_HEADERS = { Upgrade: 'websocket', 'Sec-WebSocket-Version': String(WEBSOCKET_VERSION) };

/**
 * Validates a client's opening handshake (RFC 6455 §4.2.1). Never throws, whatever the head holds.
 *
 * Checks, in order, and the answer to each failure:
 *
 * | Check | Failure |
 * |---|---|
 * | method is `GET` | 405 with `Allow: GET` |
 * | HTTP version ≥ 1.1 | 400 (the request is a malformed handshake, not an unsupported HTTP version: 505 would claim the server cannot speak HTTP/1.0 at all) |
 * | exactly one `Host` | 400 |
 * | `Upgrade` has the token `websocket` | 426 with `Upgrade: websocket` when neither `Upgrade` nor `Connection: upgrade` is present (a plain HTTP request to a WebSocket-only resource); otherwise 400 — including an `Upgrade` header that Node dropped past `maxHeadersCount` (CVE-2024-37890) or that was repeated as an array |
 * | `Connection` has the token `upgrade` | 400 |
 * | `Sec-WebSocket-Version` is exactly `13` | 426 with `Sec-WebSocket-Version: 13` (§4.4); 400 when repeated as an array |
 * | `Sec-WebSocket-Key` is base64 of 16 bytes | 400 |
 * | `Sec-WebSocket-Protocol` parses ({@link parseTokenList}) | 400 |
 * | `Sec-WebSocket-Extensions` parses ({@link parseExtensions}) | 400 |
 * | at most one `Origin` | 400 |
 *
 * Every 426 carries both `Upgrade: websocket` (RFC 7231 §6.5.15) and `Sec-WebSocket-Version: 13`.
 *
 * @example
 * ```ts
 * const result = validateUpgradeRequest(req);
 * if (!result.ok) socket.end(buildErrorResponse(result.status, result.message, result.headers));
 * ```
 */
export function validateUpgradeRequest(req: UpgradeRequestHead): UpgradeRequestResult {
  if (req.method !== 'GET') return reject(405, 'Method Not Allowed: use GET', { Allow: 'GET' });
  if (!isHttp11OrHigher(req.httpVersion)) return reject(400, 'WebSocket requires HTTP/1.1 or higher');

  const headers = req.headers;
  if (typeof headers !== 'object' || headers === null) return reject(400, 'Missing headers');
  const host = singleHeader(headers, 'host');
  if (host === undefined || host === null || host === '') return reject(400, 'Missing or invalid Host header');

  const upgrade = singleHeader(headers, 'upgrade');
  const connection = listHeader(headers, 'connection');
  const connectionUpgrade = typeof connection === 'string' && listHasToken(connection, 'upgrade');
  if (upgrade === undefined && !connectionUpgrade) {
    return reject(426, 'Upgrade Required: this resource speaks WebSocket only', { ...VERSION_HEADERS });
  }
  if (typeof upgrade !== 'string' || !listHasToken(upgrade, 'websocket')) return reject(400, 'Invalid Upgrade header');
  if (!connectionUpgrade) return reject(400, 'Invalid Connection header');

  const version = singleHeader(headers, 'sec-websocket-version');
  if (version === null) return reject(400, 'Invalid Sec-WebSocket-Version header');
  if (version !== String(WEBSOCKET_VERSION)) {
    return reject(426, 'Unsupported Sec-WebSocket-Version: use 13', { ...VERSION_HEADERS });
  }

  const key = singleHeader(headers, 'sec-websocket-key');
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) return reject(400, 'Missing or invalid Sec-WebSocket-Key header');

  let protocols: string[] = [];
  const protocolHeader = listHeader(headers, 'sec-websocket-protocol');
  if (protocolHeader !== undefined) {
    const parsed = protocolHeader === null ? null : parseTokenList(protocolHeader);
    if (parsed === null) return reject(400, 'Invalid Sec-WebSocket-Protocol header');
    protocols = parsed;
  }

  let extensions: ExtensionOffer[] = [];
  const extensionHeader = listHeader(headers, 'sec-websocket-extensions');
  if (extensionHeader !== undefined) {
    const parsed = extensionHeader === null ? null : parseExtensions(extensionHeader);
    if (parsed === null) return reject(400, 'Invalid Sec-WebSocket-Extensions header');
    extensions = parsed;
  }

  const origin = singleHeader(headers, 'origin');
  if (origin === null) return reject(400, 'Invalid Origin header');

  return { ok: true, key, protocols, extensions, origin };
}

/** Options of {@link buildUpgradeResponse}. */
export interface UpgradeResponseOptions {
  /** The client's `Sec-WebSocket-Key` (from {@link validateUpgradeRequest}). */
  key: string;
  /** The selected subprotocol, one of those offered; omitted from the response when `undefined`. */
  protocol?: string | undefined;
  /** The agreed `Sec-WebSocket-Extensions` value (see {@link formatExtension}); omitted when `undefined`. */
  extensions?: string | undefined;
  /**
   * Extra headers; an array value writes one line per item. Names must be tokens and may not repeat the
   * handshake's own headers; values must be printable ASCII, SP or HTAB.
   */
  headers?: Readonly<Record<string, string | readonly string[]>>;
}

/** Headers the 101 response writes itself, lower-case. */
const RESPONSE_OWN_HEADERS = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/**
 * The `101 Switching Protocols` response accepting a handshake (RFC 6455 §4.2.2), ending with the blank line.
 *
 * @throws WebSocketError `VOLLEY_ERR_INVALID_ARGUMENT` when `protocol` is not a token, `extensions` does not
 *   parse, or an extra header has an invalid name or value or repeats a handshake header.
 *
 * @example
 * ```ts
 * buildUpgradeResponse({ key: 'dGhlIHNhbXBsZSBub25jZQ==', protocol: 'chat' });
 * // 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
 * // 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n'
 * ```
 */
export function buildUpgradeResponse(options: UpgradeResponseOptions): string {
  const { key, protocol, extensions, headers } = options;
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) invalidArgument('key must be a valid Sec-WebSocket-Key');
  let out =
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
  if (protocol !== undefined) {
    if (typeof protocol !== 'string' || !isToken(protocol)) invalidArgument('protocol must be a token');
    out += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  }
  if (extensions !== undefined) {
    if (typeof extensions !== 'string' || parseExtensions(extensions) === null) {
      invalidArgument('extensions must be a valid Sec-WebSocket-Extensions value');
    }
    out += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  }
  if (headers !== undefined) out += formatHeaders(headers, RESPONSE_OWN_HEADERS);
  return out + '\r\n';
}

/** Reason phrases for the statuses a handshake may be refused with. */
const REASONS = new Map<number, string>([
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [405, 'Method Not Allowed'],
  [408, 'Request Timeout'],
  [409, 'Conflict'],
  [410, 'Gone'],
  [413, 'Content Too Large'],
  [414, 'URI Too Long'],
  [426, 'Upgrade Required'],
  [429, 'Too Many Requests'],
  [431, 'Request Header Fields Too Large'],
  [500, 'Internal Server Error'],
  [501, 'Not Implemented'],
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
  [504, 'Gateway Timeout'],
  [505, 'HTTP Version Not Supported'],
]);

/** Headers the error response writes itself, lower-case. */
const ERROR_OWN_HEADERS = new Set(['connection', 'content-type', 'content-length', 'transfer-encoding']);

/**
 * A complete error response refusing a handshake, closing the connection:
 * `HTTP/1.1 <status> <reason>`, `Connection: close`, `Content-Type: text/plain; charset=utf-8`,
 * `Content-Length`, the given headers, then `message` as the body. A 426 also carries `Upgrade: websocket` and
 * `Sec-WebSocket-Version: 13` unless `headers` already names them.
 *
 * @param status - An HTTP status from 400 to 599.
 * @param message - Body text (UTF-8; `Content-Length` counts its UTF-8 bytes). Write the result as UTF-8.
 * @param headers - Extra headers, validated as in {@link buildUpgradeResponse}.
 * @throws WebSocketError `VOLLEY_ERR_INVALID_ARGUMENT` on a status outside 400-599 or an invalid header.
 *
 * @example
 * ```ts
 * buildErrorResponse(405, 'Method Not Allowed', { Allow: 'GET' });
 * ```
 */
export function buildErrorResponse(status: number, message: string, headers?: Readonly<Record<string, string>>): string {
  if (!Number.isInteger(status) || status < 400 || status > 599) invalidArgument('status must be an integer in 400-599');
  if (typeof message !== 'string') invalidArgument('message must be a string');
  const reason = REASONS.get(status) ?? (status < 500 ? 'Client Error' : 'Server Error');
  let out =
    `HTTP/1.1 ${status} ${reason}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(message, 'utf8')}\r\n`;
  const given = new Set<string>();
  if (headers !== undefined) for (const name of Object.keys(headers)) given.add(name.toLowerCase());
  if (status === 426) {
    if (!given.has('upgrade')) out += 'Upgrade: websocket\r\n';
    if (!given.has('sec-websocket-version')) out += `Sec-WebSocket-Version: ${WEBSOCKET_VERSION}\r\n`;
  }
  if (headers !== undefined) out += formatHeaders(headers, ERROR_OWN_HEADERS);
  return out + '\r\n' + message;
}

/** Whether `value` may be written as a header value: HTAB, SP and printable ASCII only (no CR, LF, NUL). */
function isHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c !== 0x09 && (c < 0x20 || c > 0x7e)) return false;
  }
  return true;
}

function checkHeaderValue(name: string, value: unknown): string {
  if (typeof value !== 'string' || !isHeaderValue(value)) {
    invalidArgument(`Invalid value for header ${name}: only printable ASCII, SP and HTAB are allowed`);
  }
  return value;
}

/** Caller-supplied header lines, validated; `reserved` holds lower-case names the builder writes itself. */
function formatHeaders(
  headers: Readonly<Record<string, string | readonly string[]>>,
  reserved: ReadonlySet<string>,
): string {
  let out = '';
  for (const name of Object.keys(headers)) {
    if (!isToken(name)) invalidArgument(`Invalid header name: ${JSON.stringify(name)}`);
    if (reserved.has(name.toLowerCase())) invalidArgument(`Header ${name} is set by the handshake and may not be given`);
    const value = headers[name];
    const values: readonly unknown[] = Array.isArray(value) ? value : [value];
    for (const item of values) out += `${name}: ${checkHeaderValue(name, item)}\r\n`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------------------------

/** Options of {@link buildClientRequest}. */
export interface ClientRequestOptions {
  /** `Host` header value: host, and port when not the scheme's default (`[::1]:8080`). */
  host: string;
  /** Request target: absolute path and query, percent-encoded (`/chat?room=1`). */
  path: string;
  /** `Sec-WebSocket-Key`, from {@link generateKey}. */
  key: string;
  /** Subprotocols to offer, most preferred first; tokens, unique. Omitted when empty. */
  protocols?: readonly string[];
  /** `Sec-WebSocket-Extensions` offer (see {@link formatExtension}); omitted when `undefined`. */
  extensions?: string;
  /** `Origin` header, for clients acting for a web origin; omitted when `undefined`. */
  origin?: string;
  /** Extra headers (e.g. `Authorization`); may not repeat the handshake's own headers or `Origin`. */
  headers?: Readonly<Record<string, string>>;
}

/** Headers the request writes itself, lower-case. */
const REQUEST_OWN_HEADERS = new Set([
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'origin',
]);

/** Whether `value` is non-empty visible ASCII (no SP, HTAB or control characters). */
function isVisibleAscii(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** Whether `path` is an origin-form request target: starts with `/`, visible ASCII only. */
function isRequestTarget(path: string): boolean {
  return path.charCodeAt(0) === 0x2f && isVisibleAscii(path);
}

/**
 * The client's opening handshake request (RFC 6455 §4.1), ending with the blank line.
 *
 * @throws WebSocketError `VOLLEY_ERR_INVALID_ARGUMENT` when the path is not an origin-form target, the host is
 *   empty or holds characters other than printable ASCII, the key is not base64 of 16 bytes, a subprotocol is
 *   not a token or repeats, `extensions` does not parse, or an extra header is invalid.
 *
 * @example
 * ```ts
 * buildClientRequest({ host: 'example.com', path: '/chat', key: generateKey(randomBytes), protocols: ['chat'] });
 * ```
 */
export function buildClientRequest(options: ClientRequestOptions): string {
  const { host, path, key, protocols = [], extensions, origin, headers } = options;
  if (typeof path !== 'string' || !isRequestTarget(path)) {
    invalidArgument('path must start with "/" and contain only visible ASCII (percent-encode the rest)');
  }
  if (typeof host !== 'string' || !isVisibleAscii(host)) invalidArgument('host must be a non-empty host[:port]');
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) invalidArgument('key must be base64 of 16 bytes');
  let out =
    `GET ${path} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${key}\r\n` +
    `Sec-WebSocket-Version: ${WEBSOCKET_VERSION}\r\n`;
  if (protocols.length > 0) {
    const seen = new Set<string>();
    for (const protocol of protocols) {
      if (typeof protocol !== 'string' || !isToken(protocol)) invalidArgument(`Invalid subprotocol: ${JSON.stringify(protocol)}`);
      if (seen.has(protocol)) invalidArgument(`Duplicate subprotocol: ${protocol}`);
      seen.add(protocol);
    }
    out += `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n`;
  }
  if (extensions !== undefined) {
    if (typeof extensions !== 'string' || parseExtensions(extensions) === null) {
      invalidArgument('extensions must be a valid Sec-WebSocket-Extensions value');
    }
    out += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  }
  if (origin !== undefined) out += `Origin: ${checkHeaderValue('Origin', origin)}\r\n`;
  if (headers !== undefined) out += formatHeaders(headers, REQUEST_OWN_HEADERS);
  return out + '\r\n';
}

/** The parts of a response head the client checks; Node's `IncomingMessage` has this shape. */
export interface UpgradeResponseHead {
  /** HTTP status code. */
  statusCode: number;
  /** Header values by lower-case name. */
  headers: HeaderMap;
}

/** What the client offered, to check the response against. */
export interface UpgradeExpectation {
  /** The `Sec-WebSocket-Key` sent. */
  key: string;
  /** The subprotocols offered (`[]` when none). */
  protocols: readonly string[];
}

/** A response that completes the handshake. */
export interface UpgradeResponseAccepted {
  readonly ok: true;
  /** The subprotocol the server selected, `''` when it selected none. */
  readonly protocol: string;
  /** The extensions the server accepted, parsed but not yet judged against the offer. */
  readonly extensions: ExtensionOffer[];
}

/** A response that fails the handshake: the client must _Fail the WebSocket Connection_ (RFC 6455 §4.1). */
export interface UpgradeResponseRejected {
  readonly ok: false;
  /** What was wrong, without the server's data. */
  readonly message: string;
}

/** Outcome of {@link validateUpgradeResponse}. */
export type UpgradeResponseResult = UpgradeResponseAccepted | UpgradeResponseRejected;

function fail(message: string): UpgradeResponseRejected {
  return { ok: false, message };
}

/**
 * Validates the server's reply to the opening handshake (RFC 6455 §4.1, client steps 1-6). Never throws.
 *
 * The status must be 101; `Upgrade` must be `websocket` (case-insensitive); `Connection` must contain the token
 * `upgrade`; `Sec-WebSocket-Accept` must equal {@link acceptKey} of the key sent; a `Sec-WebSocket-Protocol`
 * must name exactly one offered subprotocol (and must be absent when none was offered);
 * `Sec-WebSocket-Extensions` must parse. Whether the extensions were offered and their parameters acceptable
 * is for the extension negotiator to decide.
 *
 * @example
 * ```ts
 * const result = validateUpgradeResponse(res, { key, protocols: ['chat'] });
 * if (!result.ok) socket.destroy();
 * ```
 */
export function validateUpgradeResponse(res: UpgradeResponseHead, expect: UpgradeExpectation): UpgradeResponseResult {
  if (res.statusCode !== 101) return fail(`Unexpected server response: ${Number(res.statusCode)}`);
  const headers = res.headers;

  const upgrade = singleHeader(headers, 'upgrade');
  if (typeof upgrade !== 'string' || trimOws(upgrade, 0, upgrade.length).toLowerCase() !== 'websocket') {
    return fail('Invalid Upgrade header');
  }
  const connection = listHeader(headers, 'connection');
  if (typeof connection !== 'string' || !listHasToken(connection, 'upgrade')) return fail('Invalid Connection header');

  const accept = singleHeader(headers, 'sec-websocket-accept');
  if (typeof accept !== 'string' || accept !== acceptKey(expect.key)) return fail('Invalid Sec-WebSocket-Accept header');

  let protocol = '';
  const protocolHeader = singleHeader(headers, 'sec-websocket-protocol');
  if (protocolHeader !== undefined) {
    if (expect.protocols.length === 0) return fail('Server sent a subprotocol but none was requested');
    if (protocolHeader === null || !isToken(protocolHeader) || !expect.protocols.includes(protocolHeader)) {
      return fail('Server sent an invalid subprotocol');
    }
    protocol = protocolHeader;
  }

  let extensions: ExtensionOffer[] = [];
  const extensionHeader = listHeader(headers, 'sec-websocket-extensions');
  if (extensionHeader !== undefined) {
    const parsed = extensionHeader === null ? null : parseExtensions(extensionHeader);
    if (parsed === null) return fail('Invalid Sec-WebSocket-Extensions header');
    extensions = parsed;
  }

  return { ok: true, protocol, extensions };
}
