/**
 * A WebSocket client made of a bare TCP socket, for tests that must send what no library would: hand-written
 * handshakes, broken frames, a peer that never answers. Everything it reads is kept in one buffer that the
 * test consumes as an HTTP head or as frames.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { OP, closeFrame, parseFrame, type ParsedFrame } from './frames.js';

/** The key of RFC 6455 §1.3, whose accept value is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`. */
export const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** A parsed HTTP response head (and its body when it announced a Content-Length). */
export interface HttpHead {
  status: number;
  /** The status line, e.g. `HTTP/1.1 101 Switching Protocols`. */
  statusLine: string;
  /** Header values by lower-case name; repeated headers are joined with `, `. */
  headers: Record<string, string>;
  /** Header lines in order, as sent. */
  lines: string[];
  body: string;
}

/** Options of {@link upgradeRequest}: the valid handshake by default, every line replaceable or removable. */
export interface RequestSpec {
  method?: string;
  path?: string;
  httpVersion?: string;
  key?: string;
  /** Headers added (or replacing the defaults, case-insensitively); a `null` value removes a default. */
  headers?: Record<string, string | null>;
  /** Raw header lines appended after the others. */
  extraLines?: string[];
}

/** A client opening handshake request as text. */
export function upgradeRequest(spec: RequestSpec = {}): string {
  const defaults: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': spec.key ?? randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
  };
  const merged = new Map<string, [string, string | null]>();
  for (const [name, value] of Object.entries(defaults)) merged.set(name.toLowerCase(), [name, value]);
  for (const [name, value] of Object.entries(spec.headers ?? {})) merged.set(name.toLowerCase(), [name, value]);
  let out = `${spec.method ?? 'GET'} ${spec.path ?? '/'} HTTP/${spec.httpVersion ?? '1.1'}\r\n`;
  for (const [name, value] of merged.values()) if (value !== null) out += `${name}: ${value}\r\n`;
  for (const line of spec.extraLines ?? []) out += `${line}\r\n`;
  return out + '\r\n';
}

/** A bare TCP client with a read buffer and helpers to consume it. */
export class RawClient {
  readonly socket: Socket;
  /** Bytes received and not yet consumed. */
  buffer: Buffer = Buffer.alloc(0);
  /** When the peer's FIN arrived (performance.now()), or null. */
  endedAt: number | null = null;
  /** When the socket closed (performance.now()), or null. */
  closedAt: number | null = null;
  /** The socket error, if any (ECONNRESET when the peer destroyed the connection). */
  error: Error | null = null;
  private readonly changed = new EventEmitter();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.changed.emit('change');
    });
    socket.on('end', () => {
      this.endedAt = performance.now();
      this.changed.emit('change');
    });
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('close', () => {
      this.closedAt = performance.now();
      this.changed.emit('change');
    });
  }

  /** Connects to 127.0.0.1:`port`. */
  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Connects and completes a valid handshake (or the one `spec` describes), expecting 101. */
  static async open(port: number, spec: RequestSpec = {}): Promise<{ client: RawClient; head: HttpHead }> {
    const client = await RawClient.connect(port);
    client.write(upgradeRequest(spec));
    const head = await client.readHead();
    if (head.status !== 101) {
      client.destroy();
      throw new Error(`expected 101, got ${head.status} ${head.body}`);
    }
    return { client, head };
  }

  /** Whether the socket has closed. */
  get closed(): boolean {
    return this.closedAt !== null;
  }

  write(data: string | Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Resolves once `ready()` returns a value other than undefined; rejects after `timeout` ms. */
  async until<T>(ready: () => T | undefined, timeout = 2000, what = 'condition'): Promise<T> {
    const deadline = performance.now() + timeout;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const changed = this.changed;
        function done(): void {
          clearTimeout(timer);
          changed.off('change', done);
          resolve();
        }
        changed.on('change', done);
      });
    }
  }

  /** Reads an HTTP response head (and a Content-Length body) from the buffer. */
  readHead(timeout = 2000): Promise<HttpHead> {
    return this.until(
      () => {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end === -1) {
          if (this.closed) throw new Error(`connection closed before a response head: ${JSON.stringify(this.buffer.toString('latin1'))}`);
          return undefined;
        }
        const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)?.[1] ?? NaN);
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          const name = line.slice(0, colon).trim().toLowerCase();
          const value = line.slice(colon + 1).trim();
          headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
        }
        const length = Number(headers['content-length'] ?? 0);
        if (this.buffer.length < end + 4 + length) {
          if (this.closed) throw new Error('connection closed inside a response body');
          return undefined;
        }
        const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
        this.buffer = this.buffer.subarray(end + 4 + length);
        return { status, statusLine: lines[0]!, headers, lines: lines.slice(1), body };
      },
      timeout,
      'a response head',
    );
  }

  /** Reads the next frame; rejects when the connection closes first. */
  readFrame(timeout = 2000): Promise<ParsedFrame> {
    return this.until(
      () => {
        const parsed = parseFrame(this.buffer);
        if (parsed !== null) {
          this.buffer = this.buffer.subarray(parsed.size);
          return parsed.frame;
        }
        if (this.closed || this.endedAt !== null) throw new Error('connection ended before a frame');
        return undefined;
      },
      timeout,
      'a frame',
    );
  }

  /** Reads frames until a close frame; returns the frames before it and the close frame. */
  async readUntilClose(timeout = 2000): Promise<{ frames: ParsedFrame[]; close: ParsedFrame; at: number }> {
    const frames: ParsedFrame[] = [];
    const deadline = performance.now() + timeout;
    for (;;) {
      const next = await this.readFrame(Math.max(1, deadline - performance.now()));
      if (next.opcode === OP.CLOSE) return { frames, close: next, at: performance.now() };
      frames.push(next);
    }
  }

  /** Resolves when the peer has closed its side (FIN or reset) — or rejects after `timeout` ms. */
  waitEnd(timeout = 2000): Promise<number> {
    return this.until(() => this.endedAt ?? this.closedAt ?? undefined, timeout, 'the server to close TCP');
  }

  /** Resolves when the socket is fully closed. */
  waitClosed(timeout = 2000): Promise<number> {
    return this.until(() => this.closedAt ?? undefined, timeout, 'the socket to close');
  }

  /** Sends a close frame (the polite end of a test). */
  sendClose(code = 1000): void {
    this.write(closeFrame(code));
  }

  /** Stops reading from the socket: the kernel's receive buffer fills and the peer's writes back up. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
