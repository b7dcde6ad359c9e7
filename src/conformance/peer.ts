/**
 * `RawPeer`: one end of a WebSocket driven by hand, after the opening handshake, for the conformance suite.
 * The raw client and the raw server both hand their socket to one. It sends whatever frames a case asks for
 * (chopped as asked), records everything the other end does the way Autobahn|Testsuite does (messages, pings,
 * pongs in order; the close frame; who closed TCP and when), and notes every framing rule the other end broke
 * (a masked server frame, an unmasked client frame, a bad RSV bit, a fragmented control frame...).
 *
 * @module
 */

import type { Socket } from 'node:net';
import { MessageDeflater, MessageInflater, type DeflateAgreement } from './deflate.js';
import {
  FrameParser,
  OP,
  RSV1,
  bytesOf,
  closePayload,
  encodeFrame,
  encodeFrames,
  fragment,
  pause,
  writeChopped,
  type FrameSpec,
  type ParsedFrame,
  type WriteOptions,
} from './frames.js';

/** Which end the raw peer plays: a client masks its frames and expects unmasked ones, a server the reverse. */
export type Role = 'client' | 'server';

/** What the other end did, in the order it did it (Autobahn's `received` list). */
export type PeerEvent =
  | { type: 'message'; data: Buffer; binary: boolean; compressed: boolean; frames: number }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer };

/** The other end's close frame. */
export interface CloseRecord {
  /** Status code, or null when the frame had no payload. */
  code: number | null;
  reason: Buffer;
  /** `performance.now()` when it arrived. */
  at: number;
}

/** How a {@link RawPeer} behaves. */
export interface PeerOptions {
  role: Role;
  /** The permessage-deflate agreement, or null when none was negotiated. @default null */
  deflate?: DeflateAgreement | null;
  /** Window bits our compressor uses where the agreement leaves it to us. @default 15 */
  compressWindowBits?: number;
  /** Reset our compressor after every message although the agreement allows context takeover. @default false */
  compressNoContextTakeover?: boolean;
  /** Answer pings with pongs. @default true */
  autoPong?: boolean;
  /** Answer the other end's close frame with one echoing its code (as Autobahn does). @default true */
  autoCloseReply?: boolean;
  /**
   * After the close handshake, end TCP ourselves this many ms later (what a server does, RFC 6455 §7.1.1);
   * `false` waits for the other end to do it.
   * @default 10 for the server role, false for the client role
   */
  endAfterCloseMs?: number | false;
}

/** Options for sending frames. */
export interface SendOptions extends WriteOptions {
  /** Write every frame on its own, pausing in between (Autobahn's `sync=True`). */
  frameWise?: boolean;
}

/** Options for {@link RawPeer.sendMessage}. */
export interface MessageOptions extends SendOptions {
  /** Send as binary. @default false for strings, true for bytes */
  binary?: boolean;
  /** Split into frames of at most this many payload bytes (Autobahn's `fragmentSize`). @default 0 (one frame) */
  fragmentSize?: number;
  /** Compress with the negotiated permessage-deflate context. @default false */
  compress?: boolean;
}

/** A raw WebSocket end over a connected socket; see the module comment. */
export class RawPeer {
  readonly role: Role;
  readonly socket: Socket;
  /** Messages, pings and pongs from the other end, in order. */
  readonly events: PeerEvent[] = [];
  /** Every frame received, in order (payloads unmasked). */
  readonly frames: ParsedFrame[] = [];
  /** Framing rules the other end broke. */
  readonly violations: string[] = [];
  /** The other end's first close frame. */
  closeFrame: CloseRecord | null = null;
  /** Close frames received (a second one is a violation). */
  closeFrames = 0;
  /** When we sent our close frame. */
  closeSentAt: number | null = null;
  /** When the other end's FIN arrived. */
  peerEndedAt: number | null = null;
  /** When we ended or destroyed TCP on our own initiative. */
  localEndedAt: number | null = null;
  /** When the TCP connection was fully closed. */
  tcpClosedAt: number | null = null;
  /** Socket error, if any (ECONNRESET means the other end reset instead of closing). */
  socketError: Error | null = null;
  readonly openedAt = performance.now();
  /** The agreement this peer works with. */
  readonly deflate: DeflateAgreement | null;

  private readonly options: PeerOptions;
  private readonly parser = new FrameParser();
  private readonly deflater: MessageDeflater | null;
  private readonly inflater: MessageInflater | null;
  private message: { opcode: number; compressed: boolean; parts: Buffer[]; frames: number } | null = null;
  private chain: Promise<void> = Promise.resolve();
  private writing: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<() => void>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(socket: Socket, head: Buffer, options: PeerOptions) {
    this.role = options.role;
    this.socket = socket;
    this.options = options;
    this.deflate = options.deflate ?? null;
    const d = this.deflate;
    if (d !== null) {
      const client = this.role === 'client';
      // Our compressor follows our side's parameters; our decompressor the other side's, strictly.
      const ourBits = client ? d.clientMaxWindowBits : d.serverMaxWindowBits;
      const theirBits = client ? d.serverMaxWindowBits : d.clientMaxWindowBits;
      this.deflater = new MessageDeflater({
        windowBits: Math.max(9, Math.min(ourBits ?? 15, options.compressWindowBits ?? 15)),
        noContextTakeover: (client ? d.clientNoContextTakeover : d.serverNoContextTakeover) || options.compressNoContextTakeover === true,
      });
      this.inflater = new MessageInflater({
        windowBits: Math.max(9, theirBits ?? 15),
        noContextTakeover: client ? d.serverNoContextTakeover : d.clientNoContextTakeover,
      });
    } else {
      this.deflater = null;
      this.inflater = null;
    }
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('end', () => {
      this.peerEndedAt ??= performance.now();
      this.changed();
    });
    socket.on('error', (error: Error) => {
      this.socketError ??= error;
      this.changed();
    });
    socket.on('close', () => {
      this.tcpClosedAt = performance.now();
      for (const timer of this.timers) clearTimeout(timer);
      this.deflater?.close();
      this.changed();
    });
    if (head.length > 0) this.onBytes(head);
  }

  // ------------------------------------------------------------------------------------------------ sending

  /** Sends frames, masked by role unless a spec says otherwise. Resolves once written. */
  send(frames: FrameSpec | readonly FrameSpec[], options: SendOptions = {}): Promise<void> {
    const list = Array.isArray(frames) ? (frames as readonly FrameSpec[]) : [frames as FrameSpec];
    const mask = this.role === 'client';
    for (const spec of list) if (spec.opcode === OP.CLOSE && this.closeSentAt === null) this.closeSentAt = performance.now();
    if (options.frameWise) {
      return this.enqueueWrite(async () => {
        for (let i = 0; i < list.length; i++) {
          if (i > 0) await pause(options.delayMs ?? 0);
          await writeChopped(this.socket, encodeFrame(list[i]!, mask), options);
        }
      });
    }
    const bytes = encodeFrames(list, mask);
    return this.enqueueWrite(() => writeChopped(this.socket, bytes, options));
  }

  /** Sends bytes as they are (a hand-made header, half a frame...). */
  sendRaw(bytes: Buffer, options: WriteOptions = {}): Promise<void> {
    return this.enqueueWrite(() => writeChopped(this.socket, bytes, options));
  }

  /** Sends a data message: text for strings (unless `binary`), compressed and fragmented on request. */
  async sendMessage(data: Uint8Array | string, options: MessageOptions = {}): Promise<void> {
    const binary = options.binary ?? typeof data !== 'string';
    let payload = bytesOf(data);
    let rsv = 0;
    if (options.compress) {
      if (this.deflater === null) throw new Error('permessage-deflate was not negotiated');
      payload = await this.deflater.compress(payload);
      rsv = RSV1;
    }
    await this.send(fragment(binary ? OP.BINARY : OP.TEXT, payload, options.fragmentSize ?? 0, rsv), options);
  }

  /** Sends a close frame with `code` and `reason` (raw bytes allowed, to send invalid ones). */
  sendClose(code?: number, reason: Uint8Array | string = '', options: SendOptions = {}): Promise<void> {
    return this.send({ opcode: OP.CLOSE, payload: closePayload(code, reason) }, options);
  }

  /** Ends our side of TCP (FIN). */
  end(): void {
    this.localEndedAt ??= performance.now();
    this.socket.end();
  }

  /** Destroys the socket at once (teardown). */
  destroy(): void {
    if (this.tcpClosedAt === null) this.localEndedAt ??= performance.now();
    this.socket.destroy();
  }

  private enqueueWrite(job: () => Promise<void>): Promise<void> {
    const next = this.writing.then(job, job);
    this.writing = next.catch(() => {});
    return next;
  }

  // ---------------------------------------------------------------------------------------------- receiving

  private onBytes(chunk: Buffer): void {
    for (const frame of this.parser.push(chunk)) this.onFrame(frame);
  }

  private onFrame(frame: ParsedFrame): void {
    this.frames.push(frame);
    const n = this.frames.length;
    // RFC 6455 §5.1: servers never mask, clients always do.
    if (this.role === 'client' && frame.masked) this.violations.push(`frame ${n} from the server is masked`);
    if (this.role === 'server' && !frame.masked) this.violations.push(`frame ${n} from the client is not masked`);
    if (this.closeFrame !== null) {
      this.violations.push(`frame ${n} (opcode ${frame.opcode}) arrived after the close frame`);
      if (frame.opcode === OP.CLOSE) this.closeFrames++;
      return;
    }
    if ((frame.opcode & 0x08) !== 0) this.onControl(frame, n);
    else this.onDataFrame(frame, n);
    this.changed();
  }

  private onControl(frame: ParsedFrame, n: number): void {
    if (!frame.fin) this.violations.push(`control frame ${n} is fragmented`);
    if (frame.payload.length > 125) this.violations.push(`control frame ${n} carries ${frame.payload.length} bytes`);
    if (frame.rsv !== 0) this.violations.push(`control frame ${n} has RSV bits ${frame.rsv}`);
    const data = frame.payload;
    switch (frame.opcode) {
      case OP.PING:
        if (this.options.autoPong !== false && this.closeSentAt === null) void this.send({ opcode: OP.PONG, payload: data });
        this.record({ type: 'ping', data });
        return;
      case OP.PONG:
        this.record({ type: 'pong', data });
        return;
      case OP.CLOSE:
        this.onClose(frame);
        return;
      default:
        this.violations.push(`frame ${n} has reserved opcode ${frame.opcode}`);
    }
  }

  private onClose(frame: ParsedFrame): void {
    this.closeFrames++;
    const p = frame.payload;
    this.closeFrame = { code: p.length >= 2 ? p.readUInt16BE(0) : null, reason: p.subarray(2), at: performance.now() };
    if (this.message !== null) this.violations.push('close frame in the middle of a fragmented message');
    if (this.closeSentAt === null && this.options.autoCloseReply !== false) {
      void this.send({ opcode: OP.CLOSE, payload: p.subarray(0, Math.min(2, p.length)) });
    }
    const endAfter = this.options.endAfterCloseMs ?? (this.role === 'server' ? 10 : false);
    if (endAfter !== false && this.closeSentAt !== null) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.tcpClosedAt === null) void this.writing.then(() => this.end());
      }, endAfter);
      this.timers.add(timer);
    }
  }

  private onDataFrame(frame: ParsedFrame, n: number): void {
    const rsv1 = (frame.rsv & RSV1) !== 0;
    if ((frame.rsv & 3) !== 0) this.violations.push(`frame ${n} has RSV2/RSV3 set`);
    if (frame.opcode === OP.TEXT || frame.opcode === OP.BINARY) {
      if (this.message !== null) this.violations.push(`frame ${n} starts a message inside a fragmented one`);
      if (rsv1 && this.inflater === null) this.violations.push(`frame ${n} has RSV1 without permessage-deflate`);
      this.message = { opcode: frame.opcode, compressed: rsv1, parts: [], frames: 0 };
    } else if (frame.opcode === OP.CONT) {
      if (this.message === null) {
        this.violations.push(`continuation frame ${n} without a message`);
        return;
      }
      if (rsv1) this.violations.push(`continuation frame ${n} has RSV1 set`);
    } else {
      this.violations.push(`frame ${n} has reserved opcode ${frame.opcode}`);
      return;
    }
    const message = this.message!;
    message.parts.push(frame.payload);
    message.frames++;
    if (!frame.fin) return;
    this.message = null;
    const raw = Buffer.concat(message.parts);
    const binary = message.opcode === OP.BINARY;
    if (!message.compressed) {
      this.record({ type: 'message', data: raw, binary, compressed: false, frames: message.frames });
      return;
    }
    // Inflation is asynchronous: events keep their order through the chain.
    const inflater = this.inflater!;
    this.chain = this.chain.then(async () => {
      try {
        const data = await inflater.decompress(raw);
        this.events.push({ type: 'message', data, binary, compressed: true, frames: message.frames });
      } catch (error) {
        this.violations.push(`compressed message in frame ${n} does not inflate: ${(error as Error).message}`);
      }
      this.changed();
    });
  }

  private record(event: PeerEvent): void {
    this.chain = this.chain.then(() => {
      this.events.push(event);
      this.changed();
    });
  }

  // ------------------------------------------------------------------------------------------------ waiting

  /** Resolves once `condition()` holds; rejects after `timeoutMs` with `what` and a state summary. */
  waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Waits for `count` events, or for TCP to close first (then the caller's comparison tells). */
  async waitEvents(count: number, timeoutMs = 5000): Promise<void> {
    await this.waitFor(() => this.events.length >= count || this.tcpClosedAt !== null, timeoutMs, `${count} events`);
    await this.chain;
  }

  /** Waits for the other end's close frame. */
  waitCloseFrame(timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.closeFrame !== null, timeoutMs, 'a close frame');
  }

  /** Waits until TCP is fully closed and every event is recorded. */
  async waitTcpClosed(timeoutMs = 5000): Promise<void> {
    await this.waitFor(() => this.tcpClosedAt !== null, timeoutMs, 'TCP close');
    await this.chain;
  }

  /** A one-line summary of what happened, for failure messages. */
  describe(): string {
    const events = this.events.map((e) => (e.type === 'message' ? `message(${e.binary ? 'binary' : 'text'}, ${e.data.length} B)` : e.type));
    return [
      `events=[${events.join(', ')}]`,
      `close=${this.closeFrame === null ? 'none' : String(this.closeFrame.code)}`,
      `peerEnded=${this.peerEndedAt !== null}`,
      `tcpClosed=${this.tcpClosedAt !== null}`,
      `violations=${JSON.stringify(this.violations)}`,
      this.socketError ? `error=${this.socketError.message}` : '',
    ].join(' ');
  }

  private changed(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
