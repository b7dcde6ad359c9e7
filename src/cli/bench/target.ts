/**
 * The server under test: where to connect, the upgrade request (built once, with a fixed key: servers never
 * track keys), and the message payload layout for raw WebSocket or Socket.IO.
 *
 * @module
 */

import { createHash, randomBytes } from 'node:crypto';
import { UsageError } from '../command.js';
import { STAMP_SIZE } from './stamp.js';

/** Where and how to connect. */
export interface Target {
  host: string;
  port: number;
  /** Request path with query. */
  path: string;
  /** Speak Socket.IO (engine.io v4 over WebSocket) instead of plain WebSocket messages. */
  socketio: boolean;
  /** The upgrade request bytes. */
  request: Buffer;
  /** The `Sec-WebSocket-Accept` value the server must answer. */
  accept: string;
}

/** The Socket.IO path when the URL gives none. */
export const SOCKETIO_PATH = '/socket.io/?EIO=4&transport=websocket';

/** Parses `ws://host:port/path`; with `socketio` a bare `/` becomes the engine.io WebSocket endpoint. */
export function parseTarget(url: string, socketio: boolean): Target {
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
  if (socketio && (path === '/' || path === '')) path = SOCKETIO_PATH;
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${parsed.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    'latin1',
  );
  return { host, port, path, socketio, request, accept };
}

/** A message payload with a placeholder stamp, and where the stamp goes. */
export interface PayloadLayout {
  payload: Buffer;
  /** Offset of the stamp in the payload (a multiple of 4). */
  stampOffset: number;
}

const FILLER = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A `size`-byte message: the stamp, then ASCII filler (valid UTF-8 and JSON-safe). In Socket.IO mode the message
 * is the event `42["m","<size characters>"]`, so the frame payload is 10 bytes larger than `size`.
 */
export function buildPayload(size: number, socketio: boolean): PayloadLayout {
  if (size < STAMP_SIZE) throw new UsageError(`--size must be at least ${STAMP_SIZE} bytes (the send stamp)`);
  const body = Buffer.alloc(size);
  body.fill('A', 0, STAMP_SIZE, 'latin1');
  if (size > STAMP_SIZE) body.fill(FILLER, STAMP_SIZE, size, 'latin1');
  if (!socketio) return { payload: body, stampOffset: 0 };
  const prefix = Buffer.from('42["m","', 'latin1');
  return { payload: Buffer.concat([prefix, body, Buffer.from('"]', 'latin1')]), stampOffset: prefix.length };
}
