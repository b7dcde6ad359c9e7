/**
 * A raw load-generator connection over `node:net`: it writes the upgrade request itself, checks the 101 reply,
 * then counts frames with a {@link FrameReader}. Reads go into one buffer shared by every connection (`onread`),
 * so the generator allocates nothing per read.
 *
 * In Socket.IO mode the connection joins the default namespace (`40`) before it counts as open, and answers
 * engine.io pings (`2` → `3`). In hub mode it sends `connect` (and `subscribe`, for a subscriber) and counts as
 * open once every reply is a result; later replies go to the `reply` hook.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { FrameReader, Op, buildMaskedFrame } from './frames.js';
import { openingCommands, parseReplyHead, type HubReplyHead } from './hub-wire.js';
import { readClock, type LatencyRecorder } from './latency.js';
import { nowMicros } from './stamp.js';
import type { Target } from './target.js';

/** One read buffer for all connections: each read is parsed before the next one can happen. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const MAX_RESPONSE_HEADER = 16 * 1024;

/** Connection lifecycle. */
export const ClientState = { CONNECTING: 0, JOINING: 1, OPEN: 2, CLOSING: 3, CLOSED: 4 } as const;
type ClientState = (typeof ClientState)[keyof typeof ClientState];

/** What a workload hears from a connection. */
export interface ClientHooks {
  /** Open (handshake done, Socket.IO namespace joined, hub `connect` and `subscribe` answered). */
  open?(client: BenchClient): void;
  /** A read completed `messages` data messages. */
  read?(client: BenchClient, messages: number): void;
  /** Hub mode: a reply to a command sent after the opening ones (from its first bytes). */
  reply?(client: BenchClient, reply: HubReplyHead): void;
  /** The server sent a close frame. */
  closeFrame?(client: BenchClient): void;
  /** The TCP connection is gone; `error` is null after a close we started. */
  close?(client: BenchClient, error: Error | null): void;
}

/** Options of a {@link BenchClient}. */
export interface ClientOptions {
  /** Source address to bind (spreads connections over 127.0.0.x when ports run short). */
  localAddress?: string;
  /** Where stamps of received messages are recorded. */
  latency?: LatencyRecorder | null;
  /** Payload offset of the stamp in messages. */
  stampOffset?: number;
  /** The workload's number for this connection. @default 0 */
  index?: number;
  /** Time allowed to open, in ms. @default 15000 */
  openTimeout?: number;
  /** Hub mode: subscribe to the bench channel on open (a subscriber), or only connect (the publisher). @default false */
  subscribe?: boolean;
  hooks?: ClientHooks;
}

/** One generator connection. */
export class BenchClient {
  /** The workload's number for this connection. */
  readonly index: number;
  /** The 4-byte masking key used for every frame of this connection. */
  readonly key: Buffer = nextMaskKey();
  /** When the TCP connect started (µs). */
  readonly startedAt = nowMicros();
  /** When the connection opened (µs), 0 before. */
  openedAt = 0;
  /** Resolves when open, rejects when the connection fails first. */
  readonly ready: Promise<void>;
  state: ClientState = ClientState.CONNECTING;
  /** Why the connection failed, if it did. */
  error: Error | null = null;
  /** We started the close (or destroyed the socket): its end is no error. */
  private closedByUs = false;
  /**
   * Hub mode: the opening commands, `connect` and, for a subscriber, `subscribe`. The reply to the last one (its
   * id is their count) opens the connection.
   */
  private readonly opening: readonly Buffer[];

  private readonly socket: Socket;
  private readonly target: Target;
  private readonly hooks: ClientHooks;
  private readonly reader: FrameReader;
  private response: Buffer | null = null;
  private timer: NodeJS.Timeout | null;
  private resolveReady!: () => void;
  private rejectReady!: (error: Error) => void;

  constructor(target: Target, options: ClientOptions = {}) {
    this.target = target;
    this.index = options.index ?? 0;
    this.hooks = options.hooks ?? {};
    this.opening = openingCommands(options.subscribe ?? false);
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // a workload that does not await it must not see an unhandled rejection
    this.reader = new FrameReader({
      stampOffset: options.stampOffset ?? 0,
      wire: target.wire,
      latency: options.latency ?? null,
      control: (opcode, head, length) => this.onControl(opcode, head, length),
    });
    this.socket = connect({
      host: target.host,
      port: target.port,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array): boolean => {
          this.onRead(n, buf as Buffer);
          return true;
        },
      },
    });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => this.socket.write(target.request));
    this.socket.on('error', (error) => {
      if (this.error === null && !this.closedByUs) this.error = error;
    });
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => this.onClose());
    this.timer = setTimeout(() => this.fail(new Error(`not open after ${options.openTimeout ?? 15000} ms`)), options.openTimeout ?? 15000);
  }

  /** Bytes the socket has not yet handed to the kernel. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** Writes pre-built frames. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends a masked frame built now (control frames and rare messages). */
  sendFrame(opcode: number, payload: Uint8Array): void {
    if (this.state === ClientState.CLOSED) return;
    this.socket.write(buildMaskedFrame(opcode, payload, this.key));
  }

  /** Starts the closing handshake: a close frame (1000); the server answers and closes TCP. */
  close(): void {
    if (this.state !== ClientState.OPEN && this.state !== ClientState.JOINING) {
      this.destroy();
      return;
    }
    this.closedByUs = true;
    this.state = ClientState.CLOSING;
    this.sendFrame(Op.CLOSE, CLOSE_NORMAL);
    this.armTimer(2000);
  }

  /** Drops the TCP connection at once. */
  destroy(): void {
    this.closedByUs = true;
    if (this.state !== ClientState.CLOSED) this.state = ClientState.CLOSING;
    this.socket.destroy();
  }

  private onRead(n: number, buf: Buffer): void {
    readClock.micros = nowMicros();
    if (this.state === ClientState.CONNECTING) {
      this.onHandshakeBytes(buf.subarray(0, n));
      return;
    }
    if (this.state === ClientState.CLOSED) return;
    const before = this.reader.messages;
    this.reader.feed(buf, 0, n);
    const messages = this.reader.messages - before;
    if (messages > 0 && this.state === ClientState.OPEN) this.hooks.read?.(this, messages);
  }

  private onHandshakeBytes(chunk: Buffer): void {
    const all = this.response === null ? Buffer.from(chunk) : Buffer.concat([this.response, chunk]);
    const end = all.indexOf(HEADER_END);
    if (end === -1) {
      if (all.length > MAX_RESPONSE_HEADER) this.fail(new Error('handshake response too large'));
      else this.response = all;
      return;
    }
    this.response = null;
    const head = all.toString('latin1', 0, end);
    if (!/^HTTP\/1\.1 101 /.test(head)) {
      this.fail(new Error(`handshake refused: ${head.split('\r\n', 1)[0]!.slice(0, 120)}`));
      return;
    }
    const accept = /\r\nsec-websocket-accept:[ \t]*([^\r\n]*?)[ \t]*(?:\r\n|$)/i.exec(head)?.[1];
    if (accept !== this.target.accept) {
      this.fail(new Error('handshake response has a wrong Sec-WebSocket-Accept'));
      return;
    }
    if (this.target.wire === 'socketio') {
      this.state = ClientState.JOINING;
      this.sendFrame(Op.TEXT, SIO_CONNECT);
    } else if (this.target.wire === 'volley-hub') {
      this.state = ClientState.JOINING;
      this.write(Buffer.concat(this.opening.map((command) => buildMaskedFrame(Op.TEXT, command, this.key))));
    } else {
      this.opened();
    }
    const rest = end + HEADER_END.length;
    if (rest < all.length) this.onRead(all.length - rest, all.subarray(rest));
  }

  private opened(): void {
    this.state = ClientState.OPEN;
    this.openedAt = readClock.micros || nowMicros();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.resolveReady();
    this.hooks.open?.(this);
  }

  private onControl(opcode: number, head: Buffer, length: number): void {
    if (opcode === Op.PING) {
      this.sendFrame(Op.PONG, head);
    } else if (opcode === Op.CLOSE) {
      if (this.state !== ClientState.CLOSING) {
        // §5.5.1: answer with a close frame echoing the code; the server then closes TCP.
        this.sendFrame(Op.CLOSE, head.subarray(0, Math.min(2, length)));
        const code = length >= 2 ? head.readUInt16BE(0) : 1005;
        this.fail(new Error(`closed by the server with code ${code}`), false);
      }
      this.hooks.closeFrame?.(this);
    } else if (opcode === Op.TEXT && this.target.wire === 'socketio') {
      // engine.io: "2" ping → "3" pong; socket.io: "40{...}" namespace joined, "44" connect error.
      if (length === 1 && head[0] === 0x32) this.sendFrame(Op.TEXT, SIO_PONG);
      else if (head[0] === 0x34 && head[1] === 0x30 && this.state === ClientState.JOINING) this.opened();
      else if (head[0] === 0x34 && head[1] === 0x34) this.fail(new Error(`Socket.IO connect error: ${head.toString('latin1')}`));
    } else if (opcode === Op.TEXT && this.target.wire === 'volley-hub') {
      // A reply, or a push other than a publication (a `disconnect` push is followed by the close frame).
      const reply = parseReplyHead(head);
      if (reply === null) return;
      if (this.state !== ClientState.JOINING) this.hooks.reply?.(this, reply);
      else if (!reply.ok) this.fail(new Error(`the hub refused ${reply.id === 1 ? 'connect' : 'subscribe'}: ${reply.code || head.toString('latin1')}`));
      else if (reply.id === this.opening.length) this.opened();
    }
  }

  private onEnd(): void {
    // The server closed TCP (after the close handshake, or abruptly): finish our side.
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.state = ClientState.CLOSED;
    const error = this.closedByUs ? null : (this.error ?? new Error('connection closed by the server'));
    if (error !== null) this.error = error;
    this.rejectReady(error ?? new Error('closed before open'));
    this.hooks.close?.(this, error);
  }

  /** Ends the connection with `error` (reported by onClose); `now` false lets the server close TCP first. */
  private fail(error: Error, now = true): void {
    if (this.error === null) this.error = error;
    this.closedByUs = false;
    this.state = ClientState.CLOSING;
    if (now) this.socket.destroy();
    else this.armTimer(2000);
  }

  private armTimer(ms: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.socket.destroy(), ms);
    this.timer.unref();
  }
}

const CLOSE_NORMAL = Buffer.from([0x03, 0xe8]);

let keyPool = Buffer.alloc(0);
let keyOffset = 0;

/** A random masking key, from a pool refilled 1,024 keys at a time (a `connect` run opens thousands per second). */
function nextMaskKey(): Buffer {
  if (keyOffset + 4 > keyPool.length) {
    keyPool = randomBytes(4096);
    keyOffset = 0;
  }
  keyOffset += 4;
  return keyPool.subarray(keyOffset - 4, keyOffset);
}
const SIO_CONNECT = Buffer.from('40', 'latin1');
const SIO_PONG = Buffer.from('3', 'latin1');

/** Source address `i` of `count` spread over 127.0.0.1, 127.0.0.2, …; undefined when not spreading. */
export function sourceAddress(i: number, count: number): string | undefined {
  if (count <= 1) return undefined;
  return `127.0.0.${1 + (i % count)}`;
}

/**
 * Opens `count` connections, at most `concurrency` handshakes at a time. Rejects (and destroys the rest) as soon
 * as one fails.
 */
export async function openClients(count: number, concurrency: number, make: (i: number) => BenchClient): Promise<BenchClient[]> {
  const clients: BenchClient[] = [];
  let next = 0;
  let failure: Error | null = null;
  const worker = async (): Promise<void> => {
    while (next < count && failure === null) {
      const client = make(next++);
      clients.push(client);
      try {
        await client.ready;
      } catch (error) {
        failure ??= error instanceof Error ? error : new Error(String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failure !== null) {
    for (const client of clients) client.destroy();
    throw new Error(`could not open ${count} connections (${clients.filter((c) => c.openedAt > 0).length} opened): ${(failure as Error).message}`);
  }
  return clients;
}
