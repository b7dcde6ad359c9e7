/**
 * The Server-Sent Events transport: `GET /sse` streams the session (first `event: open` with
 * `data: {"sid"}`, then one unnamed event per hub message); commands go with `POST /sse/send?sid=SID`. The
 * session ends with the stream. Uses `EventSource` where the platform has one, otherwise `fetch` with a
 * streamed body (Node 20), parsed by {@link SseParser}.
 *
 * @module
 */

import type { Command } from '../hub/wire.js';
import type { EventSourceConstructor, EventSourceLike, FetchLike } from './environment.js';
import { HttpSender } from './http-sender.js';
import { SseParser } from './sse-parser.js';
import { later, parseMessage, type ClientTransport, type TransportHandlers } from './transport.js';

/** An SSE session at `url` (the `…/sse` endpoint). */
export class SseTransport implements ClientTransport {
  readonly kind = 'sse' as const;
  readonly #url: string;
  readonly #fetch: FetchLike;
  readonly #handlers: TransportHandlers;
  readonly #abort = new AbortController();
  #source: EventSourceLike | null = null;
  #sender: HttpSender | null = null;
  #done = false;

  /** With `EventSource` undefined, the stream is read with `fetch`. */
  constructor(url: string, fetch: FetchLike, EventSource: EventSourceConstructor | undefined, handlers: TransportHandlers) {
    this.#url = url;
    this.#fetch = fetch;
    this.#handlers = handlers;
    if (EventSource !== undefined) this.#openEventSource(EventSource);
    else later(() => void this.#openFetch());
  }

  send(commands: readonly Command[]): void {
    if (!this.#done) this.#sender?.send(commands);
  }

  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#sender?.stop();
    try {
      this.#source?.close();
    } catch {
      // Nothing to do: the stream is gone either way.
    }
    this.#abort.abort();
  }

  #openEventSource(EventSource: EventSourceConstructor): void {
    let source: EventSourceLike;
    try {
      source = new EventSource(this.#url);
    } catch {
      later(() => this.#end('cannot open an EventSource'));
      return;
    }
    this.#source = source;
    // The server's `open` event shares its name with EventSource's own `open` (which has no data).
    source.addEventListener('open', (event: { data?: unknown }) => {
      if (typeof event.data === 'string') this.#event('open', event.data);
    });
    source.addEventListener('message', (event: { data?: unknown }) => {
      if (typeof event.data === 'string') this.#event('message', event.data);
    });
    // EventSource would reconnect by itself into a new session the client knows nothing of: end instead.
    source.addEventListener('error', () => this.#end('the event stream failed'));
  }

  async #openFetch(): Promise<void> {
    if (this.#done) return;
    let reader: ReturnType<NonNullable<Awaited<ReturnType<FetchLike>>['body']>['getReader']>;
    try {
      const response = await this.#fetch(this.#url, {
        method: 'GET',
        headers: { Accept: 'text/event-stream' },
        signal: this.#abort.signal,
        cache: 'no-store',
      });
      if (response.status !== 200 || response.body === null) {
        await response.text().catch(() => '');
        return this.#end(`opening the event stream failed with HTTP ${response.status}`);
      }
      reader = response.body.getReader();
    } catch {
      return this.#end('opening the event stream failed');
    }
    const parser = new SseParser();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (this.#done) break;
        if (done) return this.#end('the event stream ended');
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          this.#event(event.event, event.data);
          if (this.#done) break;
        }
      }
    } catch {
      return this.#end('the event stream failed');
    }
    reader.cancel().catch(() => {});
  }

  #event(name: string, data: string): void {
    if (this.#done) return;
    if (name === 'open') {
      if (this.#sender !== null) return;
      const sid = (parseMessage(data) as { sid?: unknown } | undefined)?.sid;
      if (typeof sid !== 'string' || sid === '') return this.#end('the server did not name an SSE session');
      this.#sender = new HttpSender(`${this.#url}/send?sid=${encodeURIComponent(sid)}`, this.#fetch, this.#abort.signal, (reason) => this.#end(reason));
      this.#handlers.open();
      return;
    }
    if (name !== 'message') return;
    if (this.#sender === null) return this.#end('the event stream did not start with an open event');
    const message = parseMessage(data);
    if (message === undefined) return this.#end('the server sent an event that is not JSON');
    this.#handlers.message(message);
  }

  #end(reason: string): void {
    if (this.#done) return;
    this.close();
    this.#handlers.close(1006, reason);
  }
}
