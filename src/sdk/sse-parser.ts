/**
 * An incremental parser of `text/event-stream` (WHATWG HTML §9.2.6), for SSE over `fetch` where there is no
 * `EventSource` (Node 20). Text goes in in any pieces; whole events come out. No I/O.
 *
 * @module
 */

/** One dispatched event. `event` is `'message'` when the stream named none. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

/**
 * Parses an event stream split at arbitrary points (also inside a CRLF pair). Decode bytes with a streaming
 * `TextDecoder` first, so that UTF-8 sequences split across chunks survive.
 *
 * @example
 * ```ts
 * const parser = new SseParser();
 * parser.push('event: open\ndata: {"sid":"a"}\n'); // []
 * parser.push('\n');                                // [{ event: 'open', data: '{"sid":"a"}', id: undefined }]
 * ```
 */
export class SseParser {
  #buffer = '';
  #started = false;
  /** The previous piece ended in CR: a leading LF of the next piece belongs to it. */
  #pendingCr = false;
  #data: string[] = [];
  #event = '';
  #id: string | undefined;
  /** The last event ID, as EventSource keeps it. */
  lastEventId = '';

  /** Feeds text; returns the events completed by it, in order. */
  push(text: string): SseEvent[] {
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#pendingCr) {
      this.#pendingCr = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    this.#buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    const buffer = this.#buffer;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      this.#line(buffer.slice(start, i), events);
      if (c === 0x0d) {
        if (i + 1 === buffer.length) this.#pendingCr = true;
        else if (buffer.charCodeAt(i + 1) === 0x0a) i++;
      }
      start = i + 1;
    }
    this.#buffer = buffer.slice(start);
    return events;
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') {
      this.#dispatch(events);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.#id = value;
        break;
      default:
        // `retry` and unknown fields: ignored (the SDK does its own reconnecting).
        break;
    }
  }

  #dispatch(events: SseEvent[]): void {
    if (this.#id !== undefined) this.lastEventId = this.#id;
    if (this.#data.length > 0) {
      events.push({ event: this.#event === '' ? 'message' : this.#event, data: this.#data.join('\n'), id: this.#id });
    }
    this.#data = [];
    this.#event = '';
    this.#id = undefined;
  }
}
