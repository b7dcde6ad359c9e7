/**
 * What the hub needs from a transport (WebSocket, SSE, long-polling): a way to send encoded messages to one
 * client and to end the connection. Transports live in `transports/` and call into a {@link Session}.
 *
 * @module
 */

import type { Encoding } from './wire.js';

/** One client's way out. */
export interface Transport {
  /** `websocket`, `sse` or `polling`: for metrics, logs and the client's view of its connection. */
  readonly kind: string;
  /** How messages are encoded on this transport. */
  readonly encoding: Encoding;
  /**
   * Sends one encoded message (a reply or a push). Returns false, without sending, when the transport's outbound
   * queue is over its limit: the hub then applies its slow-consumer policy. `essential` messages (replies,
   * control pushes) may exceed the soft limit up to a hard one, so a lossy subscriber still gets its replies.
   */
  write(message: string | Uint8Array, essential: boolean): boolean;
  /**
   * Whether `write` also takes JSON text as its UTF-8 bytes (and sends them as text). A broadcast then encodes
   * its text to bytes once instead of once per subscriber.
   */
  readonly textAsBytes?: boolean;
  /** Bytes queued and not yet sent. */
  readonly bufferedAmount: number;
  /** Ends the connection; `code`/`reason` go into the close frame where the transport has one. */
  close(code: number, reason: string): void;
}

/** What the hub learns about a connection when it opens. */
export interface ConnectionRequest {
  /** Peer IP address. */
  readonly remoteAddress: string;
  /** `Origin` header, if any (already checked against the allowlist by the transport). */
  readonly origin?: string | undefined;
  /** Request headers (lower-case names). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}
