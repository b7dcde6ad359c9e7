/**
 * The server under test: where to connect, what it speaks ({@link Wire}), the upgrade request (built once, with a
 * fixed key: servers never track keys), and the message payload layout for each wire format.
 *
 * @module
 */

import { createHash, randomBytes } from 'node:crypto';
import { UsageError } from '../command.js';
import { SUBPROTOCOL_JSON } from '../../hub/wire.js';
import { HUB_PATH, publishPayload } from './hub-wire.js';
import { STAMP_SIZE } from './stamp.js';

/**
 * What the generator speaks over WebSocket:
 * - `websocket`: plain messages; the server relays them as they are;
 * - `socketio`: Socket.IO 4 (engine.io v4), messages are events named `m`;
 * - `volley-hub`: Volley's hub protocol, JSON (`connect`, `subscribe`, `publish`; deliveries are `publication`
 *   pushes). Fanout only.
 */
export type Wire = 'websocket' | 'socketio' | 'volley-hub';

/** Where and how to connect. */
export interface Target {
  host: string;
  port: number;
  /** Request path with query. */
  path: string;
  wire: Wire;
  /** The upgrade request bytes. */
  request: Buffer;
  /** The `Sec-WebSocket-Accept` value the server must answer. */
  accept: string;
}

/** The Socket.IO path when the URL gives none. */
export const SOCKETIO_PATH = '/socket.io/?EIO=4&transport=websocket';

/**
 * Parses `ws://host:port/path`. A bare `/` becomes the engine.io WebSocket endpoint for `socketio` and `/ws` for
 * `volley-hub` (whose request also offers the JSON subprotocol).
 */
export function parseTarget(url: string, wire: Wire = 'websocket'): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url must be a ws:// URL, not '${url}'`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'http:') throw new UsageError(`--url must be a ws:// URL (TLS is not supported by the generator), not '${url}'`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = parsed.port === '' ? 80 : Number(parsed.port);
  let path = `${parsed.pathname}${parsed.search}`;
  if (path === '/' || path === '') path = wire === 'socketio' ? SOCKETIO_PATH : wire === 'volley-hub' ? HUB_PATH : path;
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${parsed.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      (wire === 'volley-hub' ? `Sec-WebSocket-Protocol: ${SUBPROTOCOL_JSON}\r\n` : '') +
      '\r\n',
    'latin1',
  );
  return { host, port, path, wire, request, accept };
}

/** A message payload with a placeholder stamp, and where the stamp goes. */
export interface PayloadLayout {
  payload: Buffer;
  /** Offset of the stamp in the payload (a multiple of 4). */
  stampOffset: number;
  /** Offset of a fixed-width command id that every message must change (hub `publish` commands only). */
  idOffset?: number;
}

const FILLER = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A `size`-byte message: the stamp, then ASCII filler (valid UTF-8 and JSON-safe). In Socket.IO mode the message
 * is the event `42["m","<size characters>"]`, so the frame payload is 10 bytes larger than `size`; in hub mode it
 * is a `publish` command whose `data` is the `size`-character string.
 */
export function buildPayload(size: number, wire: Wire = 'websocket'): PayloadLayout {
  if (size < STAMP_SIZE) throw new UsageError(`--size must be at least ${STAMP_SIZE} bytes (the send stamp)`);
  const body = Buffer.alloc(size);
  body.fill('A', 0, STAMP_SIZE, 'latin1');
  if (size > STAMP_SIZE) body.fill(FILLER, STAMP_SIZE, size, 'latin1');
  if (wire === 'websocket') return { payload: body, stampOffset: 0 };
  if (wire === 'volley-hub') return publishPayload(body);
  const prefix = Buffer.from('42["m","', 'latin1');
  return { payload: Buffer.concat([prefix, body, Buffer.from('"]', 'latin1')]), stampOffset: prefix.length };
}
