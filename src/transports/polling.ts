/**
 * The HTTP long-polling transport: hub sessions for clients that can make plain HTTP requests only.
 *
 * - `POST /poll/open` → 200 `{"sid":"…"}`: a new hub session, named by an unguessable `sid`.
 * - `GET /poll?sid=SID` → 200 with a JSON array of the hub messages queued for the session; with none queued
 *   it waits up to `pollTimeoutMs` and answers `[]`. One poll per session at a time (409 for a second).
 * - `POST /poll/send?sid=SID` with a JSON array of commands → 204 once they are handed to the session, in
 *   order (bodies of concurrent sends are handed over in the order the requests arrived).
 * - An unknown or expired `sid` → 404 `{"error":{"code":"not_found","message":"unknown session"}}`.
 *
 * A session with no poll in progress for `sessionIdleMs` is reaped. Its outbound queue is capped at
 * `maxQueueBytes`; past it `write()` refuses and the hub applies its slow-consumer policy. When the hub ends a
 * session, the messages still queued (ending with the `disconnect` push) are kept for one last poll.
 *
 * With a {@link SessionRelay} (several nodes, no sticky sessions), the sid names the node holding the session;
 * a poll or send that reaches another node is relayed to it, and the holding node answers relayed polls as it
 * answers its own (the same queue, the same one-poll-at-a-time rule, the same putting back of lost answers).
 *
 * @example
 * ```ts
 * const polling = new PollingTransport(hub, { pollTimeoutMs: 25_000 });
 * http.createServer((req, res) => {
 *   if (!polling.handle(req, res)) { res.statusCode = 404; res.end(); }
 * });
 * ```
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import type { Session } from '../hub/session.js';
import type { Transport } from '../hub/transport.js';
import { DisconnectCode } from '../hub/wire.js';
import {
  acceptCommands,
  answerFailure,
  fallbackSettings,
  handRelayedCommands,
  remoteOwner,
  startKeepaliveSweep,
  type CommandEndpoint,
  type FallbackSettings,
  type FallbackTransportOptions,
} from './fallback-common.js';
import {
  CommandInbox,
  connectionRequest,
  disconnectFrame,
  FallbackError,
  FallbackErrorCode,
  frameText,
  integerOption,
  isDisconnectFrame,
  methodNotAllowed,
  newSid,
  relayRefusal,
  sendError,
  sendJson,
  sidOf,
  splitUrl,
  unknownSession,
  type RelayExchange,
  type SessionRelay,
} from './http-session.js';

/** Options of the long-polling transport. */
export interface PollingTransportOptions extends FallbackTransportOptions {
  /** Path prefix of the endpoints (`PATH/open`, `PATH`, `PATH/send`). @default '/poll' */
  readonly path?: string;
  /** Longest wait of a poll with nothing to deliver before it answers `[]`, in ms. @default 25000 */
  readonly pollTimeoutMs?: number;
  /** A session with no poll in progress for this long is reaped, in ms. @default 30000 */
  readonly sessionIdleMs?: number;
}

/** Defaults of {@link PollingTransportOptions}. */
export const POLLING_DEFAULTS = Object.freeze({ path: '/poll', pollTimeoutMs: 25_000, sessionIdleMs: 30_000 });

/** Lifecycle of a polling session, changed only by `setState`. */
const PollState = {
  /** The hub session is open. */
  OPEN: 0,
  /** The hub ended the session; what is still queued waits for one last poll. */
  CLOSING: 1,
  /** Forgotten: every request naming it gets 404. */
  GONE: 2,
} as const;
type PollState = (typeof PollState)[keyof typeof PollState];

/** Serves hub sessions over long-polling. Route requests to {@link PollingTransport.handle}. */
export class PollingTransport {
  private readonly hub: Hub;
  private readonly settings: FallbackSettings;
  private readonly pollTimeoutMs: number;
  private readonly sessionIdleMs: number;
  private readonly sessions = new Map<string, PollSession>();
  /** Where `POST PATH/send` hands its commands. */
  private readonly commands: CommandEndpoint;
  /** One timer for every session's keepalive deadline. */
  private readonly sweeper: NodeJS.Timeout;
  private open = 0;

  constructor(hub: Hub, options: PollingTransportOptions = {}) {
    this.hub = hub;
    this.settings = fallbackSettings(hub, options, POLLING_DEFAULTS.path);
    this.pollTimeoutMs = integerOption(options.pollTimeoutMs, POLLING_DEFAULTS.pollTimeoutMs, 'pollTimeoutMs');
    this.sessionIdleMs = integerOption(options.sessionIdleMs, POLLING_DEFAULTS.sessionIdleMs, 'sessionIdleMs');
    this.commands = { hub, settings: this.settings, transport: 'polling', sessionOf: (sid) => this.sessions.get(sid) };
    this.settings.relay?.serve('polling', (exchange) => this.serveRelayed(exchange));
    this.sweeper = startKeepaliveSweep(() => this.sessions.values(), this.settings.pingTimeoutMs);
  }

  /**
   * Sessions of this transport: open ones, and ended ones whose last messages (the `disconnect` push) still
   * wait for a poll. A drain waits for both.
   */
  get connections(): number {
    return this.sessions.size;
  }

  /** Answers the request when it is one of this transport's; returns whether it was. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const { path, query } = splitUrl(req.url);
    const { base } = this.settings;
    const route = path === base ? 'poll' : path === `${base}/open` ? 'open' : path === `${base}/send` ? 'send' : null;
    if (route === null) return false;
    const cors = this.settings.origins.admit(req, res);
    if (cors === null) return true;
    try {
      if (route === 'open') {
        if (req.method !== 'POST') throw methodNotAllowed('POST');
        this.openSession(req, res, cors);
      } else if (route === 'poll') {
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        this.poll(query, res, cors);
      } else {
        if (req.method !== 'POST') throw methodNotAllowed('POST');
        acceptCommands(req, res, cors, query, this.commands);
      }
    } catch (error) {
      answerFailure(this.hub, res, cors, error, { transport: 'long-polling', route });
    }
    return true;
  }

  /** Ends every session and answers every waiting poll. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const entry of [...this.sessions.values()]) {
      entry.session.transportClosed(1001, 'server closed');
      entry.forget();
    }
  }

  private openSession(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>): void {
    const { maxSessions, relay, maxQueueBytes, clientAddress } = this.settings;
    if (maxSessions > 0 && this.open >= maxSessions) throw new FallbackError(FallbackErrorCode.UNAVAILABLE, 'too many sessions');
    const sid = newSid(relay?.nodeId);
    const entry = new PollSession(sid, maxQueueBytes, this.pollTimeoutMs, this.sessionIdleMs, {
      closed: () => this.open--,
      forgotten: () => this.sessions.delete(sid),
    });
    this.sessions.set(sid, entry);
    this.open++;
    entry.attachSession(this.hub.accept(entry, connectionRequest(req, clientAddress)));
    sendJson(res, 200, { sid }, cors);
  }

  private poll(query: URLSearchParams, res: ServerResponse, cors: Record<string, string>): void {
    const sid = sidOf(query);
    if (sid === null) throw unknownSession();
    const owner = remoteOwner(this.settings.relay, sid);
    if (owner !== null) return this.relayPoll(res, cors, owner, sid);
    const entry = this.sessions.get(sid);
    if (entry === undefined) throw unknownSession();
    if (!entry.attachPoll(localPoll(res, cors))) throw new FallbackError(FallbackErrorCode.CONFLICT, 'another poll is in progress for this session');
  }

  /** A poll for another node's session: relayed, and answered with what that node answers. */
  private relayPoll(res: ServerResponse, cors: Record<string, string>, owner: string, sid: string): void {
    const call = this.settings.relay!.forward(owner, { transport: 'polling', op: 'poll', sid }, { waitMs: this.pollTimeoutMs });
    let stage: 'waiting' | 'answered' | 'abandoned' = 'waiting';
    const abandon = (): void => {
      stage = 'abandoned';
      call.abandon();
    };
    // Gone before the answer, or the answer not fully written: the holding node keeps (puts back) the batch.
    res.once('close', () => {
      if (stage === 'waiting' || (stage === 'answered' && !res.writableFinished)) abandon();
    });
    void call.answer.then((answer) => {
      if (stage !== 'waiting') return;
      if (res.destroyed) return abandon();
      stage = 'answered';
      if (answer.status === 200) answerPoll(res, cors, answer.frames ?? []);
      else sendError(res, relayRefusal(answer.status), cors);
    });
  }

  /** A request another node relayed for one of this node's sessions. */
  private serveRelayed(exchange: RelayExchange): void {
    const { request } = exchange;
    const entry = this.sessions.get(request.sid);
    if (request.op === 'send') return handRelayedCommands(exchange, entry);
    if (entry === undefined) return exchange.respond({ status: 404 });
    if (!entry.attachPoll(relayedPoll(exchange))) exchange.respond({ status: 409 });
  }
}

/** What a {@link PollSession} tells its transport. */
interface PollSessionEvents {
  /** The hub ended the session. */
  closed(): void;
  /** The session is forgotten: its sid means nothing now. */
  forgotten(): void;
}

/** One long-polling client: the hub's transport for it, its outbound queue, and its waiting poll. */
class PollSession implements Transport {
  readonly kind = 'polling';
  readonly encoding = 'json' as const;
  session!: Session;
  readonly inbox: CommandInbox = new CommandInbox(this);

  private state: PollState = PollState.OPEN;
  private queue: string[] = [];
  private queuedBytes = 0;
  /** The poll waiting for messages. */
  private waiting: WaitingPoll | null = null;
  private flushScheduled = false;
  /** Polls answered so far: a lost answer is put back only if no later one went out meanwhile. */
  private answered = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly sid: string,
    private readonly maxQueueBytes: number,
    private readonly pollTimeoutMs: number,
    private readonly sessionIdleMs: number,
    private readonly events: PollSessionEvents,
  ) {
    this.startIdleTimer();
  }

  attachSession(session: Session): void {
    this.session = session;
  }

  isOpen(): boolean {
    return this.state === PollState.OPEN;
  }

  // ----------------------------------------------------------------------------------------- Transport

  get bufferedAmount(): number {
    return this.queuedBytes;
  }

  write(message: string | Uint8Array, essential: boolean): boolean {
    if (this.state !== PollState.OPEN) return true;
    const frame = frameText(message);
    const size = Buffer.byteLength(frame);
    const limit = essential ? 2 * this.maxQueueBytes : this.maxQueueBytes;
    // A message larger than the whole limit still goes through an empty queue, or it could never be delivered.
    if (this.queue.length > 0 && this.queuedBytes + size > limit) return false;
    this.enqueue(frame, size);
    return true;
  }

  close(code: number, reason: string): void {
    if (this.state !== PollState.OPEN) return;
    this.setState(PollState.CLOSING);
    this.events.closed();
    if (code === DisconnectCode.SLOW) {
      // The queue overflowed: its content is lost anyway (the client recovers from its positions).
      this.queue = [];
      this.queuedBytes = 0;
    }
    const last = this.queue[this.queue.length - 1];
    if (last === undefined || !isDisconnectFrame(last)) this.enqueue(disconnectFrame(code, reason), 0);
  }

  // ------------------------------------------------------------------------------------------- requests

  /** Starts a poll. Returns false when another poll is in progress. */
  attachPoll(poll: PendingPoll): boolean {
    if (this.waiting !== null) return false;
    this.clearIdleTimer();
    const waiting: WaitingPoll = { poll, timer: setTimeout(() => this.deliver(), this.pollTimeoutMs), turn: 0, batch: [], bytes: 0 };
    this.waiting = waiting;
    poll.onGone((answered) => {
      if (!answered) {
        // The client gave up before the answer: the session idles from now on.
        if (this.waiting !== waiting) return;
        clearTimeout(waiting.timer);
        this.waiting = null;
        this.startIdleTimer();
      } else if (waiting.turn === this.answered) {
        // Lost on its way to the client: keep it for the next poll, unless a later answer already went out (the
        // batch would then arrive out of order; the client recovers instead).
        this.requeue(waiting.batch, waiting.bytes);
      }
    });
    if (this.queue.length > 0) this.deliver();
    return true;
  }

  /** Forgets the session: later requests naming it get 404. */
  forget(): void {
    if (this.state === PollState.GONE) return;
    if (this.state === PollState.OPEN) this.events.closed();
    this.setState(PollState.GONE);
    this.clearIdleTimer();
    if (this.waiting !== null) {
      // A poll in progress still gets what is queued (a disconnect push, typically).
      clearTimeout(this.waiting.timer);
      const { poll } = this.waiting;
      this.waiting = null;
      poll.answer(this.queue);
    }
    this.queue = [];
    this.queuedBytes = 0;
    this.events.forgotten();
  }

  private enqueue(frame: string, size: number): void {
    this.queue.push(frame);
    this.queuedBytes += size;
    if (this.waiting !== null && !this.flushScheduled) {
      // Gather what the same tick produces (a reply and the pushes after it) into one answer.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.deliver();
      });
    }
  }

  /** Answers the waiting poll with everything queued (or `[]`). */
  private deliver(): void {
    const waiting = this.waiting;
    if (waiting === null) return;
    this.waiting = null;
    clearTimeout(waiting.timer);
    const batch = this.queue;
    const bytes = this.queuedBytes;
    this.queue = [];
    this.queuedBytes = 0;
    if (!waiting.poll.answer(batch)) {
      this.requeue(batch, bytes);
    } else {
      waiting.turn = ++this.answered;
      waiting.batch = batch;
      waiting.bytes = bytes;
    }
    if (this.state === PollState.CLOSING && this.queue.length === 0) this.forget();
    else if (this.state !== PollState.GONE) this.startIdleTimer();
  }

  private requeue(batch: string[], bytes: number): void {
    if (this.state === PollState.GONE || batch.length === 0) return;
    this.queue = batch.concat(this.queue);
    this.queuedBytes += bytes;
  }

  private startIdleTimer(): void {
    this.clearIdleTimer();
    this.idleTimer = setTimeout(() => this.reap(), this.sessionIdleMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** No poll for `sessionIdleMs`: the client is gone. */
  private reap(): void {
    this.idleTimer = null;
    if (this.waiting !== null) return;
    if (this.state === PollState.OPEN) this.session.transportClosed(1006, 'session idle');
    this.forget();
  }

  private setState(state: PollState): void {
    this.state = state;
  }
}

/** A poll waiting for a session's messages: an HTTP request of this node's, or one relayed from another node. */
interface PendingPoll {
  /** Answers with `batch`; false (nothing sent) when the poll is already known to be gone. */
  answer(batch: readonly string[]): boolean;
  /**
   * Registers the listener told once when the poll is gone: before its answer (`answered` false) or with its
   * answer lost on the way (`answered` true).
   */
  onGone(listener: (answered: boolean) => void): void;
}

/** The waiting poll of a session, and what it was answered with (to put back if that answer is lost). */
interface WaitingPoll {
  readonly poll: PendingPoll;
  readonly timer: NodeJS.Timeout;
  /** The session's answer count when this poll was answered; 0 before. */
  turn: number;
  batch: string[];
  bytes: number;
}

/** A poll of this node's own HTTP server. */
function localPoll(res: ServerResponse, cors: Readonly<Record<string, string>>): PendingPoll {
  let answered = false;
  return {
    answer(batch) {
      if (res.destroyed) return false;
      answered = true;
      answerPoll(res, cors, batch);
      return true;
    },
    onGone(listener) {
      res.once('close', () => {
        if (!answered) listener(false);
        else if (!res.writableFinished) listener(true);
      });
    },
  };
}

/** A poll another node relayed. */
function relayedPoll(exchange: RelayExchange): PendingPoll {
  return {
    answer(batch) {
      exchange.respond({ status: 200, frames: batch });
      return true;
    },
    onGone(listener) {
      exchange.onAbandon(listener);
    },
  };
}

/** Answers a poll with a JSON array of encoded hub messages. */
function answerPoll(res: ServerResponse, cors: Readonly<Record<string, string>>, batch: readonly string[]): void {
  if (res.headersSent || res.destroyed) return;
  const body = `[${batch.join(',')}]`;
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-length': String(Buffer.byteLength(body)),
    ...cors,
  });
  res.end(body);
}
