/**
 * A load-generator connection that speaks the hub protocol (JSON) over a raw `node:net` socket: it writes the
 * upgrade request itself, sends `connect` (and, for a subscriber, `subscribe`), then parses the server's
 * unmasked frames with as little work as the measurement allows: for a `publication` push only the `offset`
 * digits and the 8-byte send stamp at the start of `data` are read; replies are handed over whole.
 *
 * @module
 */

import { connect, type Socket } from 'node:net';
import { Op, buildMaskedFrame } from './frames.js';
import { publicationStamp } from './hub-wire.js';
import { readClock, type LatencyRecorder } from './latency.js';
import { nowMicros } from './stamp.js';
import type { Target } from './target.js';

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const PUBLICATION = Buffer.from('{"type":"publication"', 'latin1');
const OFFSET = Buffer.from('"offset":', 'latin1');

/** What a {@link HubConnection} reports. */
export interface HubConnectionHooks {
  /** A publication push: its offset (the stamp, when there is one, went to the latency recorder). */
  publication?(connection: HubConnection, offset: number): void;
  /** A reply, parsed. */
  reply?(connection: HubConnection, reply: { id: number; result?: any; error?: { code: string; message: string } }): void;
  /** The connection ended; `error` is null when we closed it. */
  close?(connection: HubConnection, error: Error | null): void;
}

/** One hub-protocol connection of the generator. */
export class HubConnection {
  readonly ready: Promise<void>;
  /** Publications received. */
  publications = 0;
  /** Offset of the last publication received. */
  lastOffset = 0;
  /** Publications whose offset was not lastOffset + 1 (after the first). */
  gaps = 0;
  #socket: Socket;
  #key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  #handshake: Buffer | null = Buffer.alloc(0);
  #pending: Buffer | null = null;
  #nextId = 1;
  #closedByUs = false;
  #ended = false;
  #resolve!: () => void;
  #reject!: (error: Error) => void;

  constructor(
    readonly target: Target,
    readonly index: number,
    private readonly latency: LatencyRecorder | null,
    private readonly hooks: HubConnectionHooks,
    /** Sent once the upgrade completed: `connect` first, then these. */
    private readonly opening: ReadonlyArray<Record<string, unknown>>,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.ready.catch(() => {});
    this.#socket = connect({ host: target.host, port: target.port });
    this.#socket.setNoDelay(true);
    this.#socket.on('connect', () => this.#socket.write(target.request));
    this.#socket.on('data', (chunk: Buffer) => this.#read(chunk));
    this.#socket.on('error', (error) => this.#end(error));
    this.#socket.on('close', () => this.#end(this.#closedByUs ? null : new Error('connection closed by the server')));
  }

  /** Sends one command (a fresh id unless it has one); returns its id. */
  command(command: Record<string, unknown>): number {
    const id = typeof command.id === 'number' ? command.id : this.#nextId++;
    this.send(Buffer.from(JSON.stringify({ id, ...command })));
    return id;
  }

  /** Sends one text message (already encoded). */
  send(payload: Buffer): void {
    this.#socket.write(buildMaskedFrame(Op.TEXT, payload, this.#key));
  }

  /** Writes pre-built frames. */
  write(frames: Buffer): void {
    this.#socket.write(frames);
  }

  /** Bytes not yet handed to the kernel. */
  get writableLength(): number {
    return this.#socket.writableLength;
  }

  /** The masking key of this connection (for pre-built frames). */
  get key(): Buffer {
    return this.#key;
  }

  destroy(): void {
    this.#closedByUs = true;
    this.#socket.destroy();
  }

  #end(error: Error | null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#reject(error ?? new Error('closed before it was ready'));
    this.hooks.close?.(this, this.#closedByUs ? null : error);
  }

  #read(chunk: Buffer): void {
    readClock.micros = nowMicros();
    if (this.#handshake !== null) {
      const all = this.#handshake.length === 0 ? chunk : Buffer.concat([this.#handshake, chunk]);
      const end = all.indexOf(HEADER_END);
      if (end < 0) {
        this.#handshake = all;
        return;
      }
      const head = all.toString('latin1', 0, end);
      if (!head.startsWith('HTTP/1.1 101')) {
        this.#socket.destroy(new Error(`handshake refused: ${head.split('\r\n', 1)[0]}`));
        return;
      }
      this.#handshake = null;
      this.command({ type: 'connect' });
      for (const command of this.opening) this.command(command);
      chunk = all.subarray(end + HEADER_END.length);
      if (chunk.length === 0) return;
    }
    const buf = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = null;
    let at = 0;
    while (buf.length - at >= 2) {
      const opcode = buf[at]! & 0x0f;
      let length = buf[at + 1]! & 0x7f;
      let head = 2;
      if (length === 126) {
        if (buf.length - at < 4) break;
        length = buf.readUInt16BE(at + 2);
        head = 4;
      } else if (length === 127) {
        if (buf.length - at < 10) break;
        length = buf.readUInt32BE(at + 2) * 0x1_0000_0000 + buf.readUInt32BE(at + 6);
        head = 10;
      }
      if (buf.length - at < head + length) break;
      const start = at + head;
      const end = start + length;
      at = end;
      if (opcode === Op.TEXT) this.#message(buf, start, end);
      else if (opcode === Op.PING) this.#socket.write(buildMaskedFrame(Op.PONG, buf.subarray(start, end), this.#key));
      else if (opcode === Op.CLOSE) {
        const code = length >= 2 ? buf.readUInt16BE(start) : 1005;
        this.#socket.end(buildMaskedFrame(Op.CLOSE, buf.subarray(start, Math.min(end, start + 2)), this.#key));
        this.#end(new Error(`closed by the server with code ${code}`));
        return;
      }
    }
    if (at < buf.length) this.#pending = Buffer.from(buf.subarray(at));
  }

  #message(buf: Buffer, start: number, end: number): void {
    if (buf.compare(PUBLICATION, 0, PUBLICATION.length, start, start + PUBLICATION.length) === 0) {
      const o = buf.indexOf(OFFSET, start);
      let offset = 0;
      for (let i = o + OFFSET.length; i < end; i++) {
        const digit = buf[i]! - 48;
        if (digit < 0 || digit > 9) break;
        offset = offset * 10 + digit;
      }
      if (this.publications > 0 && offset !== this.lastOffset + 1) this.gaps++;
      this.publications++;
      this.lastOffset = offset;
      if (this.latency !== null) {
        const stamp = publicationStamp(buf, start, end - start);
        if (stamp >= 0) this.latency.record(stamp, 1);
      }
      this.hooks.publication?.(this, offset);
      return;
    }
    let message: any;
    try {
      message = JSON.parse(buf.toString('utf8', start, end));
    } catch {
      return;
    }
    if (typeof message?.id === 'number') {
      this.hooks.reply?.(this, message);
      // Ready once every opening command (connect + the rest) has its reply.
      if (message.id === this.opening.length + 1) {
        if (message.error !== undefined) this.#socket.destroy(new Error(`${message.error.code}: ${message.error.message}`));
        else this.#resolve();
      }
    }
  }
}
