/**
 * The command pipeline between the client's API and a transport: ids, the send queue, replies matched to
 * their promises, timeouts, the bound on commands in flight, the pause after `rate_limited`, and the outbox
 * (publishes keep their place and their idempotency key across reconnects). No I/O: a transport attaches a
 * `send` function, and time comes from the injected clock.
 *
 * @module
 */

import type { Command } from '../hub/wire.js';
import type { Clock } from './environment.js';
import { ClientErrorCode, fromWireError, VolleyError } from './errors.js';

/**
 * How a request behaves:
 * - `handshake`: the `connect` command, sent as soon as a transport is attached;
 * - `control`: `ping`, `refresh`; sent when connected, even while paused by `rate_limited` (protocol §10);
 * - `publish`: the outbox; resent with the same key after a reconnect; its timeout runs while it is in flight;
 * - `call`: `presence`, `history`, `rpc`, `ping`; waits for a connection; its timeout runs from the call;
 * - `subscription`: `subscribe`, `unsubscribe`; dropped when the connection ends (the channel redoes it).
 */
export type RequestKind = 'handshake' | 'control' | 'publish' | 'call' | 'subscription';

/** A command without its id (the pipeline numbers commands per connection). */
export type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, 'id'> : never) : never;

/** Options of {@link Pipeline.request}. */
export interface RequestOptions {
  readonly timeoutMs: number;
  /** The idempotency key of a publish, copied into its errors. */
  readonly idempotencyKey?: string;
}

interface Request {
  readonly seq: number;
  readonly kind: RequestKind;
  readonly body: CommandBody;
  readonly timeoutMs: number;
  readonly idempotencyKey: string | undefined;
  readonly callback: RequestCallback;
  id: number;
  timer: unknown;
  settled: boolean;
  /** Sent while pacing: a refusal then means the pace is too fast. */
  paced: boolean;
}

/**
 * Called once with the reply's `result`, or with a {@link VolleyError}. Synchronously, from inside
 * {@link Pipeline.reply}: a subscribe result must be applied before the next message (the publications that
 * follow it) is handled, which a promise's later callback would not guarantee.
 */
export type RequestCallback = (error: VolleyError | null, result?: unknown) => void;

/** Most commands awaiting a reply at once (the hub disconnects beyond 256: protocol §3). */
export const MAX_IN_FLIGHT = 128;

/** Delay before retrying a command refused with `rate_limited` without a `retryAfterMs`, ms. */
const DEFAULT_RETRY_AFTER_MS = 1000;

/** See the module comment. */
export class Pipeline {
  readonly #clock: Clock;
  #queue: Request[] = [];
  readonly #inFlight = new Map<number, Request>();
  #send: ((commands: Command[]) => void) | null = null;
  #open = false;
  #nextId = 1;
  #seq = 0;
  #publishes = 0;
  #pausedUntil = 0;
  #pauseTimer: unknown = null;
  /**
   * After a `rate_limited`, ordinary commands go one per this many ms (the hub's `retryAfterMs`: the time it
   * takes to earn one command) until the queue is empty; sending the whole backlog at once would only be
   * refused again, and enough refusals end the connection (4001). 0: not pacing.
   */
  #pace = 0;
  #flushScheduled = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Publishes not yet acknowledged (queued or in flight). */
  get pendingPublishes(): number {
    return this.#publishes;
  }

  /** Commands sent and awaiting a reply, by kind. */
  inFlight(kind: RequestKind): number {
    let n = 0;
    for (const request of this.#inFlight.values()) if (request.kind === kind) n++;
    return n;
  }

  /** Whether commands are held back by a `rate_limited` pause. */
  get paused(): boolean {
    return this.#clock.now() < this.#pausedUntil;
  }

  /** Queues a command; `callback` gets the reply's `result`, or a {@link VolleyError}. */
  request(kind: RequestKind, body: CommandBody, options: RequestOptions, callback: RequestCallback): void {
    const request: Request = {
      seq: ++this.#seq,
      kind,
      body,
      timeoutMs: options.timeoutMs,
      idempotencyKey: options.idempotencyKey,
      callback,
      id: 0,
      timer: null,
      settled: false,
      paced: false,
    };
    if (kind === 'publish') this.#publishes++;
    // A publish's time runs while it is in flight; everything else's from now.
    if (kind !== 'publish') this.#arm(request);
    this.#queue.push(request);
    this.#scheduleFlush();
  }

  /** A transport opened: `send` takes batches of commands. Only `handshake` requests go until {@link open}. */
  attach(send: (commands: Command[]) => void): void {
    this.#send = send;
    this.#open = false;
    this.#nextId = 1;
    this.#scheduleFlush();
  }

  /** The connect reply came: everything may go. */
  open(): void {
    this.#open = true;
    this.#scheduleFlush();
  }

  /**
   * The transport ended. Publishes in flight go back to the queue, in their original order, to be sent again
   * with the same key; calls in flight fail with `VOLLEY_ERR_CONNECTION_CLOSED` (they may have run);
   * handshake, control and subscription requests fail too, sent or not.
   */
  detach(): void {
    this.#send = null;
    this.#open = false;
    const closed = (): VolleyError => new VolleyError(ClientErrorCode.CONNECTION_CLOSED, 'the connection closed before the reply');
    const inFlight = [...this.#inFlight.values()];
    this.#inFlight.clear();
    const queued = this.#queue;
    this.#queue = [];
    const failed: Request[] = [];
    for (const request of inFlight) {
      if (request.kind === 'publish') {
        this.#disarm(request);
        request.id = 0;
        this.#requeue(request);
      } else {
        failed.push(request);
      }
    }
    for (const request of queued) {
      if (request.kind === 'handshake' || request.kind === 'control' || request.kind === 'subscription') failed.push(request);
      else this.#requeue(request);
    }
    // Last: a callback may queue new requests.
    for (const request of failed) this.#settle(request, closed());
  }

  /** Fails every request, queued or in flight, with `error` (the client stopped). */
  failAll(error: VolleyError): void {
    const all = [...this.#inFlight.values(), ...this.#queue];
    this.#inFlight.clear();
    this.#queue = [];
    for (const request of all) this.#settle(request, withKey(error, request.idempotencyKey));
  }

  /**
   * Holds back commands (other than handshake and control) for `ms` (a `rate_limited` push or reply), then
   * paces them: one at a time, each after the previous one's reply and at least about `ms` apart.
   * `tooFast`: a paced command was refused, so the pace doubles.
   */
  pause(ms: number, tooFast = false): void {
    // A little slack: a timer may fire a moment early, and an early command is refused again.
    const pace = Math.ceil(Math.max(1, ms) * 1.1) + 1;
    this.#pace = tooFast ? Math.max(pace, this.#pace * 2) : Math.max(pace, this.#pace);
    this.#hold(Math.ceil(ms) + 1);
  }

  #hold(ms: number): void {
    const until = this.#clock.now() + Math.max(0, ms);
    if (until <= this.#pausedUntil) return;
    this.#pausedUntil = until;
    if (this.#pauseTimer !== null) this.#clock.clearTimeout(this.#pauseTimer);
    this.#pauseTimer = this.#clock.setTimeout(() => {
      // The pause is over when its timer fires (timers may run a millisecond before Date.now() says so).
      this.#pauseTimer = null;
      this.#pausedUntil = 0;
      this.#flush();
    }, ms);
  }

  /** Handles a reply `{id, result}` or `{id, error}`. Returns false when no request awaits that id. */
  reply(message: { id: unknown; result?: unknown; error?: unknown }): boolean {
    const request = typeof message.id === 'number' ? this.#inFlight.get(message.id) : undefined;
    if (request === undefined) return false;
    this.#inFlight.delete(request.id);
    if (message.error !== undefined) {
      const error = fromWireError(message.error, request.idempotencyKey);
      if (error.code === 'rate_limited' && (request.kind === 'publish' || request.kind === 'call' || request.kind === 'subscription')) {
        // Refused before it ran: wait as told, then send it again (a publish keeps its key).
        this.pause(error.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS, request.paced);
        if (request.kind === 'publish') this.#disarm(request);
        request.id = 0;
        this.#requeue(request);
        return true;
      }
      this.#settle(request, error);
    } else {
      this.#settle(request, null, message.result);
    }
    if (this.#queue.length > 0) this.#scheduleFlush();
    return true;
  }

  #requeue(request: Request): void {
    let i = this.#queue.length;
    while (i > 0 && this.#queue[i - 1]!.seq > request.seq) i--;
    this.#queue.splice(i, 0, request);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    const send = this.#send;
    if (send === null || this.#queue.length === 0) return;
    const paused = this.paused;
    const batch: Command[] = [];
    const kept: Request[] = [];
    let room = MAX_IN_FLIGHT - this.#inFlight.size;
    const pacing = this.#pace > 0;
    if (pacing) room = Math.min(room, this.#ordinaryInFlight() === 0 ? 1 : 0);
    let blocked = false;
    let ordinarySent = false;
    for (const request of this.#queue) {
      const urgent = request.kind === 'handshake' || (this.#open && request.kind === 'control');
      // Ordinary commands keep their order: once one must wait, those after it wait too.
      const ready = urgent || (this.#open && !paused && !blocked && room > 0);
      if (!ready) {
        if (!urgent) blocked = true;
        kept.push(request);
        continue;
      }
      request.id = this.#nextId++;
      this.#inFlight.set(request.id, request);
      if (!urgent) {
        room--;
        ordinarySent = true;
        request.paced = pacing;
      }
      if (request.kind === 'publish') this.#arm(request);
      batch.push({ id: request.id, ...request.body } as Command);
    }
    this.#queue = kept;
    if (this.#pace > 0 && ordinarySent) {
      if (kept.length === 0) this.#pace = 0;
      else this.#hold(this.#pace);
    }
    if (batch.length > 0) send(batch);
  }

  #ordinaryInFlight(): number {
    let n = 0;
    for (const request of this.#inFlight.values()) if (request.kind !== 'handshake' && request.kind !== 'control') n++;
    return n;
  }

  #arm(request: Request): void {
    request.timer = this.#clock.setTimeout(() => {
      request.timer = null;
      if (request.settled) return;
      if (request.id !== 0) this.#inFlight.delete(request.id);
      const index = this.#queue.indexOf(request);
      if (index !== -1) this.#queue.splice(index, 1);
      const what = request.kind === 'publish' ? 'publish' : (request.body as { type: string }).type;
      this.#settle(
        request,
        new VolleyError(ClientErrorCode.TIMEOUT, `no reply to ${what} within ${request.timeoutMs} ms`, {
          ...(request.idempotencyKey !== undefined ? { idempotencyKey: request.idempotencyKey } : {}),
        }),
      );
    }, request.timeoutMs);
  }

  #disarm(request: Request): void {
    if (request.timer !== null) this.#clock.clearTimeout(request.timer);
    request.timer = null;
  }

  #settle(request: Request, error: VolleyError | null, result?: unknown): void {
    if (request.settled) return;
    request.settled = true;
    this.#disarm(request);
    if (request.kind === 'publish') this.#publishes--;
    request.callback(error, result);
  }
}

function withKey(error: VolleyError, idempotencyKey: string | undefined): VolleyError {
  if (idempotencyKey === undefined) return error;
  return new VolleyError(error.code, error.message, {
    idempotencyKey,
    ...(error.closeCode !== undefined ? { closeCode: error.closeCode } : {}),
  });
}
