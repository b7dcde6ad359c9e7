/**
 * The WHATWG face of a WebSocket: `onopen`/`onmessage`/`onclose`/`onerror`, `addEventListener` and the event
 * objects they receive, layered over Node's `EventEmitter` events (`open`, `message`, `close`, `error`).
 *
 * @module
 */

import type { EventEmitter } from 'node:events';

/** Base of the events handed to WHATWG listeners. */
export class VolleyEvent {
  readonly type: string;
  /** The WebSocket that fired the event. */
  readonly target: unknown;
  constructor(type: string, target: unknown) {
    this.type = type;
    this.target = target;
  }
  get currentTarget(): unknown {
    return this.target;
  }
}

/** `open` event. */
export class OpenEvent extends VolleyEvent {}

/** `message` event: `data` is a string for text, and for binary what `binaryType` says. */
export class MessageEvent extends VolleyEvent {
  readonly data: unknown;
  constructor(target: unknown, data: unknown) {
    super('message', target);
    this.data = data;
  }
}

/** `close` event. */
export class CloseEvent extends VolleyEvent {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(target: unknown, code: number, reason: string, wasClean: boolean) {
    super('close', target);
    this.code = code;
    this.reason = reason;
    this.wasClean = wasClean;
  }
}

/** `error` event. */
export class ErrorEvent extends VolleyEvent {
  readonly error: unknown;
  readonly message: string;
  constructor(target: unknown, error: unknown) {
    super('error', target);
    this.error = error;
    this.message = error instanceof Error ? error.message : String(error);
  }
}

type Listener = ((event: never) => void) | { handleEvent(event: never): void };
type Wrapped = ((...args: unknown[]) => void) & { [ORIGINAL]?: Listener; [ATTRIBUTE]?: boolean };

const ORIGINAL = Symbol('volley.original');
const ATTRIBUTE = Symbol('volley.attribute');
const WHATWG_TYPES = new Set(['open', 'message', 'close', 'error']);

/** What the mixin needs from its host. */
interface Host extends EventEmitter {
  binaryType: string;
}

type Constructor<T> = new (...args: any[]) => T;

/** Adds the WHATWG listener API to an EventEmitter subclass. */
export function EventTargetMixin<TBase extends Constructor<EventEmitter>>(Base: TBase) {
  return class extends Base {
    /** WHATWG: adds a listener for `open`, `message`, `close` or `error`. */
    addEventListener(type: string, listener: Listener | null, options?: { once?: boolean } | boolean): void {
      if (listener === null || listener === undefined || !WHATWG_TYPES.has(type)) return;
      for (const existing of this.listeners(type) as Wrapped[]) {
        if (existing[ORIGINAL] === listener && !existing[ATTRIBUTE]) return; // no duplicates, as in the DOM
      }
      const wrapped = wrap(this as unknown as Host, type, listener);
      if (typeof options === 'object' && options?.once) this.once(type, wrapped);
      else this.on(type, wrapped);
    }

    /** WHATWG: removes a listener added with addEventListener. */
    removeEventListener(type: string, listener: Listener | null): void {
      for (const existing of this.listeners(type) as Wrapped[]) {
        if (existing[ORIGINAL] === listener && !existing[ATTRIBUTE]) {
          this.removeListener(type, existing);
          return;
        }
      }
    }

    get onopen(): Listener | null {
      return getAttribute(this, 'open');
    }
    set onopen(listener: Listener | null) {
      setAttribute(this as unknown as Host, 'open', listener);
    }
    get onmessage(): Listener | null {
      return getAttribute(this, 'message');
    }
    set onmessage(listener: Listener | null) {
      setAttribute(this as unknown as Host, 'message', listener);
    }
    get onclose(): Listener | null {
      return getAttribute(this, 'close');
    }
    set onclose(listener: Listener | null) {
      setAttribute(this as unknown as Host, 'close', listener);
    }
    get onerror(): Listener | null {
      return getAttribute(this, 'error');
    }
    set onerror(listener: Listener | null) {
      setAttribute(this as unknown as Host, 'error', listener);
    }
  };
}

function getAttribute(emitter: EventEmitter, type: string): Listener | null {
  for (const existing of emitter.listeners(type) as Wrapped[]) {
    if (existing[ATTRIBUTE]) return existing[ORIGINAL] ?? null;
  }
  return null;
}

function setAttribute(emitter: Host, type: string, listener: Listener | null): void {
  for (const existing of emitter.listeners(type) as Wrapped[]) {
    if (existing[ATTRIBUTE]) emitter.removeListener(type, existing);
  }
  if (typeof listener !== 'function') return;
  const wrapped = wrap(emitter, type, listener);
  wrapped[ATTRIBUTE] = true;
  emitter.on(type, wrapped);
}

function wrap(host: Host, type: string, listener: Listener): Wrapped {
  const call = (event: VolleyEvent): void => {
    if (typeof listener === 'function') (listener as (e: VolleyEvent) => void).call(host, event);
    else (listener.handleEvent as (e: VolleyEvent) => void).call(listener, event);
  };
  let wrapped: Wrapped;
  switch (type) {
    case 'open':
      wrapped = () => call(new OpenEvent('open', host));
      break;
    case 'message':
      wrapped = (data: unknown, isBinary: unknown) => call(new MessageEvent(host, toMessageData(host, data as Buffer, isBinary === true)));
      break;
    case 'close':
      wrapped = (code: unknown, reason: unknown, wasClean: unknown) =>
        call(new CloseEvent(host, code as number, (reason as string) ?? '', wasClean === true));
      break;
    default:
      wrapped = (error: unknown) => call(new ErrorEvent(host, error));
  }
  wrapped[ORIGINAL] = listener;
  return wrapped;
}

function toMessageData(host: Host, data: Buffer, isBinary: boolean): unknown {
  if (!isBinary) return data.toString('utf8');
  switch (host.binaryType) {
    case 'arraybuffer':
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    case 'blob':
      return new Blob([data]);
    default:
      return data;
  }
}
