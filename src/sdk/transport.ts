/**
 * The SDK's side of a transport: a way to send commands to the hub and receive its replies and pushes.
 * Three exist: WebSocket, SSE (pushes over an event stream, commands over POST) and long-polling. They
 * carry the same JSON messages (docs/protocol.md); the client above them does not know which one it uses,
 * except to choose, fall back and upgrade.
 *
 * @module
 */

import type { Command } from '../hub/wire.js';

/** The transports, in the default order of preference. */
export type TransportKind = 'websocket' | 'sse' | 'polling';

/** Every transport kind. */
export const TRANSPORT_KINDS: readonly TransportKind[] = ['websocket', 'sse', 'polling'];

/** What a transport reports. Each transport calls `close` exactly once, unless the client closed it. */
export interface TransportHandlers {
  /** The transport is ready: commands may be sent. */
  open(): void;
  /** One decoded hub message (a reply or a push), not yet validated. */
  message(message: unknown): void;
  /**
   * The transport ended on its own (network, server). `code` is the WebSocket close code, or 1006 when
   * there was none (HTTP transports, abnormal ends). Not called after {@link ClientTransport.close}.
   */
  close(code: number, reason: string): void;
}

/** One connection attempt over one transport. */
export interface ClientTransport {
  readonly kind: TransportKind;
  /** Sends commands, in order. Only after `open`; a transport that is closing drops them. */
  send(commands: readonly Command[]): void;
  /** Ends the connection from this side. No handler is called afterwards. Idempotent. */
  close(): void;
}

/** Runs `fn` on a later task: transports never call their handlers from inside their constructor. */
export function later(fn: () => void): void {
  setTimeout(fn, 0);
}

/** Parses one JSON message from the hub; `undefined` when it is not JSON. */
export function parseMessage(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
