/**
 * Pieces shared by the HTTP fallback transports (long-polling in `polling.ts`, Server-Sent Events in `sse.ts`):
 * session ids, the origin allowlist and CORS, command bodies read with a byte limit enforced while they stream,
 * JSON answers with stable error codes, the fallback keepalive rule (docs/protocol.md, "HTTP fallbacks"), and
 * the {@link SessionRelay} through which several nodes serve each other's sessions without sticky sessions
 * (docs/scaling.md).
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { BodyAbortedError, readLimitedBody } from './http-body.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createCodec, type Codec } from '../hub/codec.js';
import type { ClientAddress, TrustProxy } from './client-address.js';
import type { HubLogger } from '../hub/hub.js';
import type { Session } from '../hub/session.js';
import type { ConnectionRequest } from '../hub/transport.js';
import { invalidArgument } from '../protocol/errors.js';
import { normalizeOrigin } from '../socket/server.js';

/** A `node:http` request handler that answers only the URLs it owns and returns whether it did. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Options every HTTP fallback transport takes. */
export interface HttpFallbackOptions {
  /**
   * Allowed browser origins, compared as serialized origins (scheme, host, port; case-insensitive). A request
   * with another `Origin` gets 403 and CORS answers name only these origins. Requests without `Origin`
   * (non-browser clients) pass.
   * @default every origin (CORS answers `*`)
   */
  readonly allowedOrigins?: readonly string[] | undefined;
  /**
   * Largest command body (`POST …/send`), in bytes: 413 and the connection closed beyond, as soon as the
   * limit is passed, without reading the rest.
   * @default 65536
   */
  readonly maxBodyBytes?: number;
  /**
   * Outbound bytes queued per session before the hub's slow-consumer policy applies (replies and control
   * pushes may use twice as much).
   * @default 1048576
   */
  readonly maxQueueBytes?: number;
  /** Most sessions of this transport on this node (503 beyond); 0 is unlimited. @default 0 */
  readonly maxSessions?: number;
  /**
   * Which proxies' `X-Forwarded-For` names the client (its address is the session's `remoteAddress`, the key of
   * the `ip` rate limits); see {@link TrustProxy}.
   * @default false: the TCP peer is the client
   */
  readonly trustProxy?: TrustProxy;
  /**
   * A session that sends no command for this long is disconnected with 4005 (the client must `ping` every
   * `pingIntervalMs`). Plain `EventSource` streams (subscribe by URL) are exempt: they send nothing.
   * @default the hub's pingIntervalMs + 10000
   */
  readonly pingTimeoutMs?: number;
}

/** Defaults of {@link HttpFallbackOptions}. */
export const HTTP_FALLBACK_DEFAULTS = Object.freeze({
  maxBodyBytes: 65_536,
  maxQueueBytes: 1_048_576,
  maxSessions: 0,
  /** Added to the hub's `pingIntervalMs` for the default `pingTimeoutMs`. */
  pingSlackMs: 10_000,
});

/** Checks a numeric option: an integer ≥ `min`. */
export function integerOption(value: number | undefined, fallback: number, name: string, min = 1): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen < min) invalidArgument(`${name} must be an integer ≥ ${min}`);
  return chosen;
}

// --------------------------------------------------------------------------------------------- session ids

/** Bytes of randomness in a session id: 192 bits, far beyond guessing. */
const SID_BYTES = 24;
/** `[<node id>.]<32 base64url characters>`: the node id names the node holding the session (several nodes). */
const SID_PATTERN = /^(?:[A-Za-z0-9_-]{1,32}\.)?[A-Za-z0-9_-]{32}$/;
/** What {@link SessionRelay.nodeId} must look like (it goes into session ids). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * A new opaque session id: 32 base64url characters, prefixed with `<owner>.` when several nodes share the
 * sessions' traffic (so any node knows where to relay a request). It is a bearer secret: whoever knows it can
 * read and send as the session, so it is never logged and is distinct from the public client id.
 */
export function newSid(owner?: string): string {
  const random = randomBytes(SID_BYTES).toString('base64url');
  return owner === undefined ? random : `${owner}.${random}`;
}

/** The `sid` query parameter when it has the shape of a session id, else null. */
export function sidOf(query: URLSearchParams): string | null {
  const sid = query.get('sid');
  return sid !== null && SID_PATTERN.test(sid) ? sid : null;
}

/** The node a session id names as its holder, or null (a single-node id). */
export function ownerOf(sid: string): string | null {
  const dot = sid.indexOf('.');
  return dot < 0 ? null : sid.slice(0, dot);
}

/** Path and query of a request URL (a malformed query yields no parameters rather than an error). */
export function splitUrl(url: string | undefined): { path: string; query: URLSearchParams } {
  const raw = url ?? '';
  const mark = raw.indexOf('?');
  if (mark === -1) return { path: raw, query: new URLSearchParams() };
  let query: URLSearchParams;
  try {
    query = new URLSearchParams(raw.slice(mark + 1));
  } catch {
    query = new URLSearchParams();
  }
  return { path: raw.slice(0, mark), query };
}

/** What the hub learns about an HTTP client, `clientAddress` telling its address. */
export function connectionRequest(req: IncomingMessage, clientAddress: ClientAddress): ConnectionRequest {
  return {
    remoteAddress: clientAddress(req),
    origin: typeof req.headers.origin === 'string' ? req.headers.origin : undefined,
    headers: req.headers,
  };
}

// ------------------------------------------------------------------------------------------------- answers

/** Error codes of the fallback endpoints (`{"error":{"code","message"}}`); docs/protocol.md lists them. */
export const FallbackErrorCode = {
  BAD_REQUEST: 'bad_request',
  UNAUTHORIZED: 'unauthorized',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  NOT_ACCEPTABLE: 'not_acceptable',
  CONFLICT: 'conflict',
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  LIMIT_EXCEEDED: 'limit_exceeded',
  UNAVAILABLE: 'unavailable',
  INTERNAL: 'internal',
} as const;
export type FallbackErrorCode = (typeof FallbackErrorCode)[keyof typeof FallbackErrorCode];

const STATUS: Readonly<Record<FallbackErrorCode, number>> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  conflict: 409,
  payload_too_large: 413,
  limit_exceeded: 429,
  unavailable: 503,
  internal: 500,
};

/** A refusal answered with its status and `{"error":{"code","message"}}`. */
export class FallbackError extends Error {
  readonly code: FallbackErrorCode;
  readonly status: number;
  /** Extra response headers (`Allow` for 405, `Connection: close` for 413). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: FallbackErrorCode, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'FallbackError';
    this.code = code;
    this.status = STATUS[code];
    this.headers = headers;
  }
}

/** The answer to an unknown or expired session id: the client opens a new session and recovers. */
export const unknownSession = (): FallbackError => new FallbackError(FallbackErrorCode.NOT_FOUND, 'unknown session');

/** Sends `body` as JSON. Does nothing when an answer was already sent. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Sends an error answer; anything but a {@link FallbackError} becomes a 500 without detail. */
export function sendError(res: ServerResponse, error: unknown, cors: Readonly<Record<string, string>>): void {
  const refusal = error instanceof FallbackError ? error : new FallbackError(FallbackErrorCode.INTERNAL, 'internal error');
  sendJson(res, refusal.status, { error: { code: refusal.code, message: refusal.message } }, { ...cors, ...refusal.headers });
}

/** Sends 204 with the CORS headers. */
export function sendNoContent(res: ServerResponse, cors: Readonly<Record<string, string>>): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(204, { 'cache-control': 'no-store', ...cors });
  res.end();
}

/** 405 for a route that exists with other methods. */
export function methodNotAllowed(allow: string): FallbackError {
  return new FallbackError(FallbackErrorCode.METHOD_NOT_ALLOWED, 'method not allowed', { allow: `${allow}, OPTIONS` });
}

// ------------------------------------------------------------------------------------------------ origins

const PREFLIGHT_HEADERS = {
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Authorization, Last-Event-ID, Cache-Control',
  'access-control-max-age': '600',
} as const;

/**
 * The origin allowlist (the WebSocket endpoint's, against cross-site hijacking) and the CORS answers that go
 * with it. No credentials are ever allowed: sessions are named by their `sid`, never by cookies.
 */
export class OriginPolicy {
  private readonly allowed: Set<string> | null;

  constructor(allowedOrigins: readonly string[] | undefined) {
    this.allowed = allowedOrigins === undefined ? null : new Set(allowedOrigins.map(normalizeOrigin));
    for (const origin of this.allowed ?? []) {
      if (origin.startsWith('invalid:')) invalidArgument(`allowedOrigins: ${origin.slice(8)} is not an origin (scheme://host[:port])`);
    }
  }

  /**
   * The CORS headers for `req`, or null when its `Origin` is not allowed. Without `Origin` (not a browser's
   * cross-origin request) there is nothing to add.
   */
  corsHeaders(req: IncomingMessage): Record<string, string> | null {
    const origin = req.headers.origin;
    if (typeof origin !== 'string') return {};
    if (this.allowed === null) return { 'access-control-allow-origin': '*' };
    if (!this.allowed.has(normalizeOrigin(origin))) return null;
    return { 'access-control-allow-origin': origin, vary: 'Origin' };
  }

  /**
   * The CORS prologue of every fallback request: answers a preflight, or refuses an origin that is not allowed
   * (403); returns the CORS headers to send when the request may proceed, or null when it was answered.
   */
  admit(req: IncomingMessage, res: ServerResponse): Record<string, string> | null {
    if (req.method === 'OPTIONS') {
      this.preflight(req, res);
      return null;
    }
    const cors = this.corsHeaders(req);
    if (cors === null) sendError(res, new FallbackError(FallbackErrorCode.FORBIDDEN, 'origin not allowed'), {});
    return cors;
  }

  /** Answers a CORS preflight (`OPTIONS`): 204 for an allowed origin, 403 for another. */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    const cors = this.corsHeaders(req);
    if (cors === null) {
      sendError(res, new FallbackError(FallbackErrorCode.FORBIDDEN, 'origin not allowed'), {});
      return;
    }
    res.writeHead(204, { ...cors, ...PREFLIGHT_HEADERS, ...(this.allowed === null ? {} : { vary: 'Origin' }) });
    res.end();
  }
}

// -------------------------------------------------------------------------------------------------- bodies

/** After a 413, how long the client may keep sending (its bytes read and dropped) before the socket is destroyed. */
const LINGER_MS = 2000;

/**
 * Collects a request body of at most `maxBytes` (see http-body.ts). Too large → 413 with `Connection: close`:
 * the rest of the body is never buffered, only drained for a short while, then the socket is destroyed.
 *
 * @throws FallbackError `payload_too_large`; {@link BodyAbortedError} when the client went away.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return readLimitedBody(req, {
    maxBytes,
    lingerMs: LINGER_MS,
    discardBytes: Number.MAX_SAFE_INTEGER,
    tooLarge: () =>
      new FallbackError(FallbackErrorCode.PAYLOAD_TOO_LARGE, `the body is larger than ${maxBytes} bytes`, { connection: 'close' }),
  });
}

export { BodyAbortedError };

function noop(): void {}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const codecs = new Map<number, Codec>();

/**
 * Splits a command body, a JSON array of hub commands, into one frame per command, for `session.receive`.
 * The body is decoded by the hub's JSON codec (no `__proto__` keys, no lone surrogates, nesting limited to
 * `maxDepth` per command), so re-encoding each item is bounded and safe.
 *
 * @throws FallbackError `bad_request` when the body is not UTF-8, not JSON, or not an array.
 */
export function parseCommandBody(bytes: Uint8Array, maxDepth: number): string[] {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new FallbackError(FallbackErrorCode.BAD_REQUEST, 'the body is not valid UTF-8');
  }
  let codec = codecs.get(maxDepth);
  // The array is one more level than the commands it holds.
  if (codec === undefined) codecs.set(maxDepth, (codec = createCodec('json', { maxDepth: maxDepth + 1 })));
  let value: unknown;
  try {
    value = codec.decode(text);
  } catch (error) {
    const reason = (error as { reason?: string }).reason;
    throw new FallbackError(
      FallbackErrorCode.BAD_REQUEST,
      reason === 'too_deep' ? 'the body nests too deeply' : reason === 'forbidden_key' ? 'the body has a "__proto__" key' : 'the body is not valid JSON',
    );
  }
  if (!Array.isArray(value)) throw new FallbackError(FallbackErrorCode.BAD_REQUEST, 'the body must be a JSON array of commands');
  return value.map((command) => JSON.stringify(command));
}

// ---------------------------------------------------------------------------------------- hub messages

/** A hub message as text (the HTTP fallbacks carry the JSON encoding only). */
export function frameText(message: string | Uint8Array): string {
  return typeof message === 'string' ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('utf8');
}

/** Whether an encoded hub message is a `disconnect` push (the JSON codec writes `type` first). */
export function isDisconnectFrame(frame: string): boolean {
  return frame.startsWith('{"type":"disconnect"');
}

/**
 * The `disconnect` push for a close that came without one (the hub closes a slow consumer with the code
 * alone, having no room left to queue a push): on HTTP there is no close frame to carry the code.
 */
export function disconnectFrame(code: number, reason: string): string {
  return JSON.stringify({ type: 'disconnect', code, reason, reconnect: code === 1001 || (code >= 4000 && code < 4500) });
}

// ------------------------------------------------------------------------------------------------- relaying

/** The transport a relayed request is for. */
export type RelayTransport = 'polling' | 'sse';

/** A request for a session held by another node. */
export interface RelayRequest {
  readonly transport: RelayTransport;
  /** `poll`: wait for the session's messages (long-polling); `send`: hand commands to the session. */
  readonly op: 'poll' | 'send';
  readonly sid: string;
  /** `send`: the commands, one encoded command each (already checked by {@link parseCommandBody}). */
  readonly frames?: readonly string[];
}

/** The holding node's answer to a {@link RelayRequest}. */
export interface RelayAnswer {
  /**
   * 200 (a poll's messages in `frames`), 204 (commands handed over), 404 (unknown session, or its node is
   * gone), 409 (a poll is already in progress), 503 (the holding node did not answer in time).
   */
  readonly status: number;
  readonly frames?: readonly string[];
}

/** A relayed request in flight, as the node that received it over HTTP sees it. */
export interface RelayCall {
  /** Settles with the answer (never rejects: failures are a 404 or 503 answer). */
  readonly answer: Promise<RelayAnswer>;
  /**
   * The HTTP client went away before the answer came, or the answer could not be written to it: the holding
   * node stops waiting, or puts back what it sent, as it does for a poll of its own.
   */
  abandon(): void;
}

/** A relayed request, as the node holding the session sees it. */
export interface RelayExchange {
  readonly request: RelayRequest;
  /** Sends the answer to the requesting node. Only the first call counts. */
  respond(answer: RelayAnswer): void;
  /**
   * Registers the one listener told when the request is abandoned: before the answer (`answered` false: the
   * client went away) or after it (`answered` true: the answer did not reach the client).
   */
  onAbandon(listener: (answered: boolean) => void): void;
}

/**
 * How HTTP fallback requests reach the node holding their session when several nodes serve one hub without
 * sticky sessions (the Redis implementation is in `server/session-relay.ts`). Transports without a relay serve
 * their own sessions only.
 */
export interface SessionRelay {
  /** This node's id ({@link NODE_ID_PATTERN}); sessions opened here carry it in their sid. */
  readonly nodeId: string;
  /**
   * Relays `request` to node `owner`. `waitMs` is how long the holding node may take by design (a poll's
   * timeout); the relay adds its own margin before it answers 503.
   */
  forward(owner: string, request: RelayRequest, options?: { readonly waitMs?: number }): RelayCall;
  /** Installs the handler of the requests other nodes relay to this node's sessions of `transport`. */
  serve(transport: RelayTransport, handler: (exchange: RelayExchange) => void): void;
}

/** The refusal that goes with a relayed answer's status (anything unexpected is a 503). */
export function relayRefusal(status: number): FallbackError {
  switch (status) {
    case 404:
      return unknownSession();
    case 409:
      return new FallbackError(FallbackErrorCode.CONFLICT, 'another poll is in progress for this session');
    default:
      return new FallbackError(FallbackErrorCode.UNAVAILABLE, 'the node holding this session did not answer: open a new session');
  }
}

/**
 * Answers `POST …/send` for a session held by another node: the body is read and checked here, within this
 * node's limits, then relayed; 204 once the holding node handed the commands over.
 */
export function relayCommands(
  req: IncomingMessage,
  res: ServerResponse,
  cors: Readonly<Record<string, string>>,
  target: { readonly relay: SessionRelay; readonly owner: string; readonly transport: RelayTransport; readonly sid: string },
  options: ReceiveOptions,
): void {
  readBody(req, options.maxBodyBytes)
    .then((bytes) => parseCommandBody(bytes, options.maxDepth))
    .then(
      (frames) => {
        const call = target.relay.forward(target.owner, { transport: target.transport, op: 'send', sid: target.sid, frames });
        void call.answer.then((answer) => {
          if (answer.status === 204) sendNoContent(res, cors);
          else sendError(res, relayRefusal(answer.status), cors);
        });
      },
      (error: unknown) => {
        if (error instanceof BodyAbortedError) return;
        if (!(error instanceof FallbackError)) options.logger.error({ err: error }, 'fallback send failed');
        sendError(res, error, cors);
      },
    );
}

// ------------------------------------------------------------------------------------------------ commands

/** The session an {@link CommandInbox} feeds. */
export interface CommandTarget {
  /** Whether the hub session is still open (commands for an ended one are refused with 404). */
  isOpen(): boolean;
  readonly session: Session;
}

/**
 * Hands command bodies (`POST …/send`) to a session in the order their requests arrived, whatever order the
 * bodies finish arriving in, and remembers when the client last sent anything (the keepalive rule).
 */
export class CommandInbox {
  /** When the client last sent commands, in ms since the epoch. */
  lastCommandAt = Date.now();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly target: CommandTarget) {}

  /**
   * Hands `frames` to the session once every earlier body was handed over. Resolves to false when the session
   * ended meanwhile; rejects as `frames` does when the body is refused.
   */
  add(frames: Promise<string[]>): Promise<boolean> {
    // Handled now, so a body refused while an earlier one is still being handed over is not "unhandled".
    frames.catch(noop);
    const turn = this.chain.then(
      () => frames,
      () => frames,
    );
    const handed = turn.then((list) => {
      if (!this.target.isOpen()) return false;
      this.lastCommandAt = Date.now();
      for (const frame of list) this.target.session.receive(frame);
      return true;
    });
    this.chain = handed.catch(noop);
    return handed;
  }
}

/** Limits and logger for {@link receiveCommands}. */
export interface ReceiveOptions {
  readonly maxBodyBytes: number;
  readonly maxDepth: number;
  readonly logger: HubLogger;
}

/**
 * Answers `POST …/send`: reads the body within its limit, splits it into commands, hands them to the session
 * through `inbox`, then answers 204 (404 when the session ended meanwhile, 400/413 for a refused body).
 */
export function receiveCommands(req: IncomingMessage, res: ServerResponse, cors: Readonly<Record<string, string>>, inbox: CommandInbox, options: ReceiveOptions): void {
  const frames = readBody(req, options.maxBodyBytes).then((bytes) => parseCommandBody(bytes, options.maxDepth));
  inbox.add(frames).then(
    (handed) => {
      if (handed) sendNoContent(res, cors);
      else sendError(res, unknownSession(), cors);
    },
    (error: unknown) => {
      if (error instanceof BodyAbortedError) return;
      if (!(error instanceof FallbackError)) options.logger.error({ err: error }, 'fallback send failed');
      sendError(res, error, cors);
    },
  );
}

// ------------------------------------------------------------------------------------------ event streams

/** Headers of every event stream. */
export const EVENT_STREAM_HEADERS = Object.freeze({
  'content-type': 'text/event-stream',
  'cache-control': 'no-store',
  // nginx buffers proxied responses unless told not to.
  'x-accel-buffering': 'no',
  'x-content-type-options': 'nosniff',
});

/** After the stream is ended, how long a client that does not read may hold the socket. */
const END_GRACE_MS = 5000;

/** A long-lived stream: no Nagle delay, TCP keepalive to notice dead peers, no idle timeout. */
export function prepareSocket(req: IncomingMessage): void {
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true, 30_000);
  req.socket.setTimeout(0);
}

/**
 * Writes to an event stream, corked for the rest of the tick so that a burst (a reply and the pushes after
 * it) leaves in one write.
 */
export function writeCorked(res: ServerResponse, text: string, state: { corked: boolean }): void {
  if (res.writableEnded || res.destroyed) return;
  if (!state.corked) {
    state.corked = true;
    res.cork();
    process.nextTick(() => {
      state.corked = false;
      res.uncork();
    });
  }
  res.write(text);
}

/** Ends a stream, and destroys its socket if the client does not take the rest within {@link END_GRACE_MS}. */
export function endStream(res: ServerResponse): void {
  if (res.writableEnded) return;
  res.end();
  if (res.writableFinished) return;
  const timer = setTimeout(() => res.destroy(), END_GRACE_MS);
  timer.unref();
  res.once('finish', () => clearTimeout(timer));
  res.once('close', () => clearTimeout(timer));
}
