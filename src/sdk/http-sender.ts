/**
 * Commands over HTTP for the SSE and long-polling transports: `POST <url>?sid=SID` with a JSON array of
 * commands, answered 204. One request at a time, so the hub sees commands in the order they were sent;
 * commands that arrive meanwhile go out together in the next request.
 *
 * @module
 */

import type { Command } from '../hub/wire.js';
import type { FetchLike } from './environment.js';

/** Sends command batches to `url`; calls `fail` once when a request fails (the session is then unusable). */
export class HttpSender {
  readonly #url: string;
  readonly #fetch: FetchLike;
  readonly #fail: (reason: string) => void;
  readonly #signal: AbortSignal;
  #queue: Command[] = [];
  #busy = false;
  #stopped = false;

  constructor(url: string, fetch: FetchLike, signal: AbortSignal, fail: (reason: string) => void) {
    this.#url = url;
    this.#fetch = fetch;
    this.#signal = signal;
    this.#fail = fail;
  }

  send(commands: readonly Command[]): void {
    if (this.#stopped || commands.length === 0) return;
    this.#queue.push(...commands);
    if (!this.#busy) void this.#drain();
  }

  stop(): void {
    this.#stopped = true;
    this.#queue = [];
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    while (this.#queue.length > 0 && !this.#stopped) {
      const batch = this.#queue;
      this.#queue = [];
      let status: number;
      try {
        const response = await this.#fetch(this.#url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(batch),
          signal: this.#signal,
          cache: 'no-store',
        });
        status = response.status;
        // Drain the (empty) body so that the connection can be reused.
        await response.text().catch(() => '');
      } catch {
        if (!this.#stopped) this.#fail('sending commands failed');
        this.#stopped = true;
        break;
      }
      if (status < 200 || status > 299) {
        if (!this.#stopped) this.#fail(status === 404 ? 'session not found' : `sending commands failed with HTTP ${status}`);
        this.#stopped = true;
        break;
      }
    }
    this.#busy = false;
  }
}
