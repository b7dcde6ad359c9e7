/**
 * A small client of the hub protocol for integration tests, over Volley's own `WebSocket`: it sends commands
 * with increasing ids, matches replies by id, and queues pushes for {@link HubClient.nextPush}. It encodes and
 * decodes MessagePack with `@msgpack/msgpack` directly, not through the hub's codec and its checks.
 *
 * @example
 * ```ts
 * const client = await HubClient.open(started.url, { encoding: 'msgpack' });
 * await client.connect();
 * const { epoch, offset } = await client.ok('subscribe', { channel: 'chat:lobby' });
 * const push = await client.nextPush((p) => p.type === 'publication');
 * ```
 *
 * @module
 */

import assert from 'node:assert/strict';
import { decode, encode } from '@msgpack/msgpack';
import { WebSocket } from '../../socket/index.js';
import { SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, type Encoding, type WireError } from '../wire.js';

/** Any message from the hub, as decoded (replies have `id`, pushes have `type`). */
export type HubMessage = Record<string, any>;

/** A reply: `result` or `error`. */
export interface ReplyMessage {
  readonly id: number;
  readonly result?: any;
  readonly error?: WireError;
}

/** Options of {@link HubClient.open}. */
export interface HubClientOptions {
  /** @default 'json' */
  encoding?: Encoding;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Subprotocols to offer instead of the one for `encoding`. */
  protocols?: string[];
  /** The client's own largest accepted message. @default 16 MiB */
  maxMessageSize?: number;
  /** @default 2000 */
  timeoutMs?: number;
}


/** Thrown by {@link HubClient.ok} for an error reply. */
export class ReplyError extends Error {
  readonly code: string;
  readonly reply: ReplyMessage;
  constructor(reply: ReplyMessage) {
    super(`${reply.error!.code}: ${reply.error!.message}`);
    this.code = reply.error!.code;
    this.reply = reply;
  }
}

/** The error code of the error reply `promise` rejects with; fails when it resolves, rethrows any other error. */
export async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ReplyError) return error.code;
    throw error;
  }
  assert.fail('expected an error reply');
}

/** One test connection to a hub. */
export class HubClient {
  readonly ws: WebSocket;
  readonly encoding: Encoding;
  /** Every message received, in arrival order (replies and pushes). */
  readonly log: HubMessage[] = [];
  /** Settles when the socket closes, with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Frames the client could not decode (should stay empty). */
  readonly garbage: unknown[] = [];
  /** Called for every message, in arrival order, before it is queued. */
  onMessage: ((message: HubMessage) => void) | null = null;

  private nextId = 1;
  private readonly timeoutMs: number;
  private readonly waiting = new Map<number, { resolve: (reply: ReplyMessage) => void; fail: (why: string) => void }>();
  private readonly pushes: HubMessage[] = [];
  private readonly pushWaiters = new Set<{
    predicate: (push: HubMessage) => boolean;
    resolve: (push: HubMessage) => void;
    fail: (why: string) => void;
  }>();
  private closeInfo: { code: number; reason: string } | null = null;

  private constructor(ws: WebSocket, encoding: Encoding, timeoutMs: number) {
    this.ws = ws;
    this.encoding = encoding;
    this.timeoutMs = timeoutMs;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: string | Buffer) => {
        this.closeInfo = { code, reason: String(reason) };
        resolve(this.closeInfo);
        const why = `the socket closed (${code})`;
        for (const waiter of [...this.waiting.values()]) waiter.fail(why);
        for (const waiter of [...this.pushWaiters]) waiter.fail(why);
      });
    });
    ws.on('error', () => {});
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
  }

  /** Opens a WebSocket to `url` offering the subprotocol of `options.encoding`. */
  static open(url: string, options: HubClientOptions = {}): Promise<HubClient> {
    const encoding = options.encoding ?? 'json';
    const protocols = options.protocols ?? [encoding === 'msgpack' ? SUBPROTOCOL_MSGPACK : SUBPROTOCOL_JSON];
    const ws = new WebSocket(url, protocols, {
      perMessageDeflate: false,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.maxMessageSize ? { maxMessageSize: options.maxMessageSize } : {}),
      handshakeTimeout: 2000,
    });
    const client = new HubClient(ws, encoding, options.timeoutMs ?? 2000);
    return new Promise((resolve, reject) => {
      let failure: Error | null = null;
      ws.once('error', (error: Error) => (failure = error));
      ws.once('open', () => resolve(client));
      ws.once('close', () => reject(new Error(`the WebSocket closed before it opened${failure ? `: ${failure.message}` : ''}`)));
    });
  }

  /** The close code once closed, else null. */
  get closeCode(): number | null {
    return this.closeInfo?.code ?? null;
  }

  /** Sends `{ id, type, ...fields }` and resolves with its reply (an error reply resolves too). */
  call(type: string, fields: Record<string, unknown> = {}, timeoutMs = this.timeoutMs): Promise<ReplyMessage> {
    const id = this.nextId++;
    this.sendMessage({ id, type, ...fields });
    return this.reply(id, type, timeoutMs);
  }

  /** The reply to command `id`, within `timeoutMs`; rejects if the socket closes first. */
  reply(id: number, what = `command ${id}`, timeoutMs = this.timeoutMs): Promise<ReplyMessage> {
    return new Promise<ReplyMessage>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(new Error(`no reply to ${what} (id ${id}): ${why}`));
      };
      const timer = setTimeout(() => fail(`none within ${timeoutMs} ms`), timeoutMs);
      if (this.closeInfo !== null) return fail(`the socket closed (${this.closeInfo.code})`);
      this.waiting.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          this.waiting.delete(id);
          resolve(reply);
        },
        fail,
      });
    });
  }

  /** Sends a command and returns its `result`; throws {@link ReplyError} on an error reply. */
  async ok(type: string, fields: Record<string, unknown> = {}, timeoutMs?: number): Promise<any> {
    const reply = await this.call(type, fields, timeoutMs);
    if (reply.error !== undefined) throw new ReplyError(reply);
    return reply.result;
  }

  /** Sends a command without waiting; returns its id (see {@link reply}). */
  send(type: string, fields: Record<string, unknown> = {}): number {
    const id = this.nextId++;
    this.sendMessage({ id, type, ...fields });
    return id;
  }

  /** `connect` with an optional token; returns the result (throws on an error reply). */
  connect(token?: string, fields: Record<string, unknown> = {}): Promise<any> {
    return this.ok('connect', { ...(token !== undefined ? { token } : {}), ...fields });
  }

  /** Encodes and sends any value (for malformed commands). */
  sendMessage(message: unknown): void {
    this.ws.send(this.encoding === 'msgpack' ? encode(message) : JSON.stringify(message));
  }

  /** Sends raw bytes or text as they are. */
  sendRaw(frame: string | Uint8Array): void {
    this.ws.send(frame);
  }

  /**
   * The first queued or future push matching `predicate`, removed from the queue; rejects after `timeoutMs`,
   * or when the socket closes before it arrives.
   */
  nextPush(predicate: (push: HubMessage) => boolean = () => true, timeoutMs = this.timeoutMs): Promise<HubMessage> {
    const index = this.pushes.findIndex(predicate);
    if (index >= 0) return Promise.resolve(this.pushes.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (push: HubMessage) => {
          clearTimeout(timer);
          this.pushWaiters.delete(waiter);
          resolve(push);
        },
        fail: (why: string) => {
          clearTimeout(timer);
          this.pushWaiters.delete(waiter);
          reject(new Error(`no matching push: ${why}; queued: ${JSON.stringify(this.pushes.slice(0, 5)).slice(0, 500)}`));
        },
      };
      const timer = setTimeout(() => waiter.fail(`none within ${timeoutMs} ms`), timeoutMs);
      if (this.closeInfo !== null) return waiter.fail(`the socket closed (${this.closeInfo.code})`);
      this.pushWaiters.add(waiter);
    });
  }

  /** The pushes received and not taken by {@link nextPush}, optionally filtered; they stay queued. */
  queued(predicate: (push: HubMessage) => boolean = () => true): HubMessage[] {
    return this.pushes.filter(predicate);
  }

  /** Removes every queued push. */
  drain(): HubMessage[] {
    return this.pushes.splice(0, this.pushes.length);
  }

  /** The close code and reason, within `timeoutMs`. */
  waitClosed(timeoutMs = this.timeoutMs): Promise<{ code: number; reason: string }> {
    let timer: NodeJS.Timeout;
    return Promise.race([
      this.closed.finally(() => clearTimeout(timer)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the socket did not close within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  }

  /** Closes with 1000 and waits (briefly) for the close; terminates if the server does not answer. */
  async close(): Promise<void> {
    if (this.closeInfo !== null) return;
    this.ws.resume();
    this.ws.close(1000);
    try {
      await this.waitClosed(1000);
    } catch {
      this.terminate();
      await this.closed;
    }
  }

  /** Destroys the TCP connection at once (a network failure as the hub sees it). */
  terminate(): void {
    this.ws.terminate();
  }

  /** Stops reading from the socket: the hub's writes pile up (a slow consumer). */
  pause(): void {
    this.ws.pause();
  }

  /** Reads again after {@link pause}. */
  resume(): void {
    this.ws.resume();
  }

  private receive(data: Buffer, isBinary: boolean): void {
    let message: HubMessage;
    try {
      if (this.encoding === 'msgpack') {
        if (!isBinary) throw new Error('text frame on the msgpack protocol');
        message = decode(data) as HubMessage;
      } else {
        if (isBinary) throw new Error('binary frame on the JSON protocol');
        message = JSON.parse(data.toString('utf8')) as HubMessage;
      }
    } catch (error) {
      this.garbage.push(error);
      return;
    }
    this.log.push(message);
    this.onMessage?.(message);
    if (typeof message['id'] === 'number' && message['type'] === undefined) {
      this.waiting.get(message['id'])?.resolve(message as ReplyMessage);
      return;
    }
    for (const waiter of this.pushWaiters) {
      if (waiter.predicate(message)) {
        waiter.resolve(message);
        return;
      }
    }
    this.pushes.push(message);
  }
}
