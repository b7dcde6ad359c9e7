/**
 * The client side of the opening handshake: `new WebSocket(url, protocols?, options?)` runs this to connect
 * over `node:http` / `node:https`, validate the server's reply, agree on permessage-deflate and hand the socket
 * to the connection driver.
 *
 * @module
 */

import { randomBytes, randomFillSync } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { CloseCode } from '../protocol/constants.js';
import { ErrorCode, WebSocketError, invalidArgument } from '../protocol/errors.js';
import { generateKey, validateUpgradeResponse } from '../protocol/handshake.js';
import { parseTokenList } from '../protocol/header-tokens.js';
import {
  acceptDeflateResponse,
  offerDeflate,
  resolveDeflateOptions,
  type PerMessageDeflateOptions,
} from '../protocol/permessage-deflate.js';
import { createDeflateCodec } from './deflate-codec.js';
import { Heartbeat, type HeartbeatOptions } from './heartbeat.js';
import { resolveSocketSettings, type WebSocket, type WebSocketBaseOptions } from './websocket.js';

/** Options of a client `WebSocket` (beyond the WHATWG constructor's url and protocols). */
export interface ClientOptions extends WebSocketBaseOptions {
  /** Extra request headers (e.g. `Authorization`). Values with CR/LF are refused. */
  headers?: Record<string, string>;
  /** `Origin` header to send (browsers always send one; Node clients need not). */
  origin?: string;
  /**
   * Offer permessage-deflate; `false` turns it off.
   * @default true
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * Fail the attempt when the handshake has not completed within this many ms.
   * @default 10000
   */
  handshakeTimeout?: number;
  /**
   * TLS options for `wss://` (CA, client certificate, servername...). Certificate verification stays on unless
   * `rejectUnauthorized: false` is given explicitly.
   */
  tls?: TlsOptions;
  /**
   * Ping the server when idle and give up when no pong comes; off by default, as in browsers.
   * @default false
   */
  heartbeat?: HeartbeatOptions | false;
}

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** Starts the opening handshake for `ws`. Caller errors (bad URL, bad protocols) throw synchronously. */
export function connectClient(
  ws: WebSocket,
  address: string | URL,
  protocols: string | readonly string[] | undefined,
  options: ClientOptions = {},
): void {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new SyntaxError(`Invalid URL: ${String(address)}`);
  }
  // WHATWG: http(s) URLs are accepted and mapped to ws(s).
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new SyntaxError(`The URL's scheme must be ws or wss, not ${url.protocol}`);
  if (url.hash !== '') throw new SyntaxError('The URL must not contain a fragment');

  const offered = typeof protocols === 'string' ? [protocols] : protocols === undefined ? [] : [...protocols];
  if (offered.length > 0 && parseTokenList(offered.join(', ')) === null) {
    throw new SyntaxError('Subprotocols must be unique tokens');
  }
  const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  if (!(timeout > 0)) invalidArgument('handshakeTimeout must be a positive number of ms');
  const deflate = options.perMessageDeflate === false ? null : resolveDeflateOptions(options.perMessageDeflate ?? true);
  // Resolved now, so that a bad limit throws here rather than once the server has answered.
  const settings = resolveSocketSettings({
    ...options,
    role: 'client',
    compressThreshold: deflate?.threshold,
    heartbeat: options.heartbeat ? new Heartbeat(options.heartbeat) : null,
    randomFill: fillRandom,
  });

  const key = generateKey((size) => randomBytes(size));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (/[\r\n\0]/.test(name) || /[\r\n\0]/.test(String(value))) invalidArgument(`header ${JSON.stringify(name)} contains CR, LF or NUL`);
    headers[name] = String(value);
  }
  Object.assign(headers, {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': key,
  });
  if (offered.length > 0) headers['Sec-WebSocket-Protocol'] = offered.join(', ');
  if (deflate !== null) headers['Sec-WebSocket-Extensions'] = offerDeflate(deflate);
  if (options.origin !== undefined) headers.Origin = options.origin;

  ws.url = url.href;
  const secure = url.protocol === 'wss:';
  const request = secure ? httpsRequest : httpRequest;
  let req: ClientRequest;
  let settled = false;

  const fail = (error: WebSocketError | Error): void => {
    if (settled) return;
    settled = true;
    ws.abortHandshake = null;
    clearTimeout(timer);
    req.destroy();
    ws._readyState = 3; // CLOSED
    if (ws.listenerCount('error') > 0) ws.emit('error', error);
    ws.emit('close', CloseCode.ABNORMAL, '', false);
  };

  req = request({
    ...(secure ? options.tls : {}),
    host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path: `${url.pathname}${url.search}`,
    headers,
    // Redirects are never followed, so credentials never travel to another host.
    agent: false,
    ...(secure ? { servername: options.tls?.servername ?? serverName(url.hostname) } : {}),
  });
  const timer = setTimeout(() => fail(new WebSocketError(ErrorCode.HANDSHAKE, `Opening handshake has timed out after ${timeout} ms`)), timeout);
  timer.unref();
  ws.abortHandshake = fail;

  req.on('error', (error: NodeJS.ErrnoException) => fail(describeNetworkError(error, url)));
  req.on('response', (res: IncomingMessage) => {
    res.resume();
    fail(new WebSocketError(ErrorCode.HANDSHAKE, `Unexpected server response: ${res.statusCode ?? 0}`));
  });
  req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
    if (settled) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    const checked = validateUpgradeResponse({ statusCode: res.statusCode ?? 0, headers: res.headers }, { key, protocols: offered });
    if (!checked.ok) {
      socket.destroy();
      return fail(new WebSocketError(ErrorCode.HANDSHAKE, checked.message));
    }
    let codec = null;
    let extensions = '';
    if (checked.extensions.length > 0) {
      const params = deflate === null ? new WebSocketError(ErrorCode.HANDSHAKE, 'Server sent an extension that was not offered') : acceptDeflateResponse(checked.extensions, deflate);
      if (params instanceof WebSocketError || params === null) {
        socket.destroy();
        return fail(params ?? new WebSocketError(ErrorCode.HANDSHAKE, 'Server sent an extension that was not offered'));
      }
      codec = createDeflateCodec(params, 'client', deflate!);
      extensions = typeof res.headers['sec-websocket-extensions'] === 'string' ? res.headers['sec-websocket-extensions'] : '';
    }
    settled = true;
    ws.abortHandshake = null;
    clearTimeout(timer);
    ws._attach(socket, head, { settings, protocol: checked.protocol, extensions, codec });
  });
  req.end();
}

/** Masking-key randomness for client connections. */
function fillRandom(buffer: Uint8Array): void {
  randomFillSync(buffer);
}

/** Turns a socket error into a message a person can act on. */
function describeNetworkError(error: NodeJS.ErrnoException, url: URL): WebSocketError {
  const where = url.host;
  let text: string;
  switch (error.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      text = `cannot resolve host ${url.hostname}`;
      break;
    case 'ECONNREFUSED':
      text = `connection refused by ${where}`;
      break;
    case 'ECONNRESET':
      text = `connection reset by ${where} during the handshake`;
      break;
    case 'ETIMEDOUT':
      text = `connection to ${where} timed out`;
      break;
    default:
      text = error.code?.startsWith('ERR_TLS') || /certificate|SSL|TLS/i.test(error.message) || error.code?.includes('CERT')
        ? `TLS error with ${where}: ${error.message}`
        : `${error.message}`;
  }
  const wrapped = new WebSocketError(ErrorCode.HANDSHAKE, text);
  (wrapped as { cause?: unknown }).cause = error;
  return wrapped;
}

/** SNI must not be an IP address (RFC 6066). */
function serverName(hostname: string): string | undefined {
  if (hostname.startsWith('[') || /^\d+\.\d+\.\d+\.\d+$/.test(hostname)) return undefined;
  return hostname;
}
