/**
 * The long-polling transport: `POST /poll/open` → `{"sid"}`; `GET /poll?sid=SID` → a JSON array of hub
 * messages (the hub holds the request up to 25 s and answers `[]` when nothing came; 409 while another poll
 * of the session is in flight); commands with `POST /poll/send?sid=SID`. An unknown session answers 404:
 * the transport then ends, and the client reconnects and recovers.
 *
 * @module
 */

import type { Command } from '../hub/wire.js';
import type { Clock, FetchLike } from './environment.js';
import { HttpSender } from './http-sender.js';
import { later, parseMessage, type ClientTransport, type TransportHandlers } from './transport.js';

/** Most consecutive 409 answers tolerated before the session is given up. */
const MAX_CONFLICTS = 20;
/** Wait after a 409 before polling again, ms. */
const CONFLICT_RETRY_MS = 100;

/** A long-polling session at `url` (the `…/poll` endpoint). */
export class PollingTransport implements ClientTransport {
  readonly kind = 'polling' as const;
  readonly #url: string;
  readonly #fetch: FetchLike;
  readonly #clock: Clock;
  readonly #handlers: TransportHandlers;
  readonly #abort = new AbortController();
  #sender: HttpSender | null = null;
  #done = false;

  constructor(url: string, fetch: FetchLike, clock: Clock, handlers: TransportHandlers) {
    this.#url = url;
    this.#fetch = fetch;
    this.#clock = clock;
    this.#handlers = handlers;
    later(() => void this.#open());
  }

  send(commands: readonly Command[]): void {
    if (!this.#done) this.#sender?.send(commands);
  }

  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#sender?.stop();
    this.#abort.abort();
  }

  async #open(): Promise<void> {
    if (this.#done) return;
    let sid: unknown;
    try {
      const response = await this.#fetch(`${this.#url}/open`, { method: 'POST', signal: this.#abort.signal, cache: 'no-store' });
      const text = await response.text();
      if (response.status !== 200 && response.status !== 201) return this.#end(`opening a polling session failed with HTTP ${response.status}`);
      sid = (parseMessage(text) as { sid?: unknown } | undefined)?.sid;
    } catch {
      return this.#end('opening a polling session failed');
    }
    if (this.#done) return;
    if (typeof sid !== 'string' || sid === '') return this.#end('the server did not name a polling session');
    const query = `?sid=${encodeURIComponent(sid)}`;
    this.#sender = new HttpSender(`${this.#url}/send${query}`, this.#fetch, this.#abort.signal, (reason) => this.#end(reason));
    this.#handlers.open();
    void this.#poll(`${this.#url}${query}`);
  }

  async #poll(url: string): Promise<void> {
    let conflicts = 0;
    while (!this.#done) {
      let status: number;
      let text: string;
      try {
        const response = await this.#fetch(url, { method: 'GET', signal: this.#abort.signal, cache: 'no-store' });
        status = response.status;
        text = await response.text();
      } catch {
        return this.#end('polling failed');
      }
      if (this.#done) return;
      if (status === 409) {
        if (++conflicts > MAX_CONFLICTS) return this.#end('another poll of this session stays in flight');
        await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, CONFLICT_RETRY_MS));
        continue;
      }
      conflicts = 0;
      if (status === 404) return this.#end('session not found');
      if (status !== 200) return this.#end(`polling failed with HTTP ${status}`);
      const messages = parseMessage(text);
      if (!Array.isArray(messages)) return this.#end('the server sent a poll answer that is not a JSON array');
      for (const message of messages) {
        if (this.#done) return;
        this.#handlers.message(message);
      }
    }
  }

  #end(reason: string): void {
    if (this.#done) return;
    this.close();
    this.#handlers.close(1006, reason);
  }
}
