/**
 * The WebSocket transport: one JSON command or message per WebSocket text message, subprotocol
 * `volley.v1.json` (docs/protocol.md §1-2).
 *
 * @module
 */

import type { Command } from '../hub/wire.js';
import type { WebSocketConstructor, WebSocketLike } from './environment.js';
import { later, parseMessage, type ClientTransport, type TransportHandlers } from './transport.js';

/** The subprotocol the SDK offers (JSON is the only encoding it speaks). */
export const SUBPROTOCOL = 'volley.v1.json';

const OPEN = 1;

/** A WebSocket connection to `url`, reporting to `handlers`. */
export class WebSocketTransport implements ClientTransport {
  readonly kind = 'websocket' as const;
  readonly #handlers: TransportHandlers;
  #ws: WebSocketLike | null = null;
  #done = false;

  constructor(url: string, WebSocket: WebSocketConstructor, handlers: TransportHandlers) {
    this.#handlers = handlers;
    let ws: WebSocketLike;
    try {
      ws = new WebSocket(url, [SUBPROTOCOL]);
    } catch (error) {
      // A URL the platform refuses (or a blocked port): report it like a failed handshake.
      later(() => this.#end(1006, error instanceof Error ? error.message : 'cannot open WebSocket'));
      return;
    }
    this.#ws = ws;
    ws.addEventListener('open', () => {
      if (this.#done) return;
      // The hub answers without a subprotocol for clients that offered none; any other answer is not v1.
      if (ws.protocol !== '' && ws.protocol !== SUBPROTOCOL) {
        this.#fail(1002, `the server selected an unknown subprotocol ${JSON.stringify(ws.protocol)}`);
        return;
      }
      handlers.open();
    });
    ws.addEventListener('message', (event: { data: unknown }) => {
      if (this.#done) return;
      const message = typeof event.data === 'string' ? parseMessage(event.data) : undefined;
      if (message === undefined) {
        this.#fail(1006, 'the server sent a message that is not JSON text');
        return;
      }
      handlers.message(message);
    });
    ws.addEventListener('close', (event: { code?: number; reason?: string }) => {
      this.#end(typeof event.code === 'number' ? event.code : 1006, typeof event.reason === 'string' ? event.reason : '');
    });
    // 'error' is always followed by 'close', which reports it.
    ws.addEventListener('error', () => {});
  }

  send(commands: readonly Command[]): void {
    const ws = this.#ws;
    if (this.#done || ws === null || ws.readyState !== OPEN) return;
    for (const command of commands) ws.send(JSON.stringify(command));
  }

  close(): void {
    if (this.#done) return;
    this.#done = true;
    closeQuietly(this.#ws);
  }

  #fail(code: number, reason: string): void {
    closeQuietly(this.#ws);
    this.#end(code, reason);
  }

  #end(code: number, reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#handlers.close(code, reason);
  }
}

function closeQuietly(ws: WebSocketLike | null): void {
  try {
    ws?.close(1000);
  } catch {
    // Already closing, or closing while connecting on a platform that refuses it: nothing to do.
  }
}
