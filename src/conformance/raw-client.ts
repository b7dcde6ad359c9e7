/**
 * A raw-frame WebSocket client over `node:net`, for testing servers the way Autobahn|Testsuite's fuzzing
 * client does: it performs the opening handshake (optionally offering permessage-deflate with any
 * parameters), then hands the socket to a {@link RawPeer} that sends hand-built frames (any opcode, RSV bits,
 * FIN, mask, length; chopped at given offsets or octet-wise) and records what the server sends back: its
 * frames (which must never be masked), the close code and reason, and when the server closed TCP.
 *
 * The client never closes TCP after a close handshake on its own: the server must (RFC 6455 §7.1.1), and a
 * case checks that it did ({@link RawPeer.peerEndedAt}).
 *
 * @example
 * ```ts
 * const client = await connectRawClient({ port, extensions: 'permessage-deflate; client_max_window_bits' });
 * await client.send({ opcode: OP.TEXT, payload: 'Hello' }, { chopSize: 1 });
 * await client.waitEvents(1);
 * await client.sendClose(1000);
 * await client.waitTcpClosed();
 * ```
 *
 * @module
 */

import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { agreementOf, parseExtensions, type ExtensionElement } from './deflate.js';
import { RawPeer, type PeerOptions } from './peer.js';

export { OP, RSV1, encodeFrame, fragment, closePayload, type FrameSpec, type ParsedFrame } from './frames.js';
export { MessageDeflater, MessageInflater, SYNC_TAIL } from './deflate.js';

/** Options of {@link connectRawClient}. */
export interface RawClientOptions extends Pick<PeerOptions, 'compressWindowBits' | 'compressNoContextTakeover' | 'autoPong' | 'autoCloseReply'> {
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default '/' */
  path?: string;
  /** `Sec-WebSocket-Extensions` to offer (see {@link deflateOffer}). @default none */
  extensions?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Give up on the handshake after this many ms. @default 5000 */
  timeoutMs?: number;
  /** Bytes written in the same write as the request (frames riding with the handshake). */
  trailing?: Buffer;
}

/** The server's reply to the opening handshake. */
export interface HandshakeResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
}

/** A connected raw client: a {@link RawPeer} in the client role plus what the handshake decided. */
export class RawClient extends RawPeer {
  constructor(
    socket: Socket,
    head: Buffer,
    options: PeerOptions,
    /** The 101 response. */
    readonly response: HandshakeResponse,
    /** The extension offers made. */
    readonly offers: ExtensionElement[],
    /** The extension the server accepted, if any. */
    readonly accepted: ExtensionElement | null,
  ) {
    super(socket, head, options);
  }
}

/** The `permessage-deflate` offer string for the given parameters (`true`: parameter without a value). */
export function deflateOffer(params: {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number | true;
}): string {
  const parts = ['permessage-deflate'];
  if (params.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (params.clientMaxWindowBits === true) parts.push('client_max_window_bits');
  else if (params.clientMaxWindowBits !== undefined) parts.push(`client_max_window_bits=${params.clientMaxWindowBits}`);
  if (params.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (params.serverMaxWindowBits !== undefined) parts.push(`server_max_window_bits=${params.serverMaxWindowBits}`);
  return parts.join('; ');
}

/** Opens a TCP connection and performs the opening handshake; rejects unless the server answers 101 correctly. */
export function connectRawClient(options: RawClientOptions): Promise<RawClient> {
  const host = options.host ?? '127.0.0.1';
  const key = randomBytes(16).toString('base64');
  const lines = [
    `GET ${options.path ?? '/'} HTTP/1.1`,
    `Host: ${host}:${options.port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
  ];
  if (options.extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${options.extensions}`);
  for (const [name, value] of Object.entries(options.headers ?? {})) lines.push(`${name}: ${value}`);
  const request = `${lines.join('\r\n')}\r\n\r\n`;

  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: options.port });
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error('handshake timed out')), options.timeoutMs ?? 5000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buffered.length > 16384) fail(new Error('handshake response too large'));
        return;
      }
      socket.off('data', onData);
      socket.off('error', fail);
      clearTimeout(timer);
      const response = parseResponse(buffered.subarray(0, end).toString('latin1'));
      const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      if (response.status !== 101) return fail(new Error(`handshake answered with ${response.status}`));
      if (response.headers['sec-websocket-accept'] !== expected) return fail(new Error('wrong Sec-WebSocket-Accept'));
      const offers = parseExtensions(options.extensions);
      const accepted = parseExtensions(response.headers['sec-websocket-extensions'])[0] ?? null;
      const deflate = accepted?.name === 'permessage-deflate' ? agreementOf(accepted) : null;
      const head = buffered.subarray(end + 4);
      resolve(
        new RawClient(
          socket,
          head,
          {
            role: 'client',
            deflate,
            compressWindowBits: options.compressWindowBits,
            compressNoContextTakeover: options.compressNoContextTakeover,
            autoPong: options.autoPong,
            autoCloseReply: options.autoCloseReply,
          },
          response,
          offers,
          accepted,
        ),
      );
    };
    socket.on('data', onData);
    socket.on('error', fail);
    socket.once('connect', () => {
      const head = Buffer.from(request, 'latin1');
      socket.write(options.trailing ? Buffer.concat([head, options.trailing]) : head);
    });
  });
}

function parseResponse(text: string): HandshakeResponse {
  const [statusLine = '', ...headerLines] = text.split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status, headers };
}
