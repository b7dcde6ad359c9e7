/**
 * A WebSocket "server" made of a bare TCP listener, for client tests: it reads the request head and lets the
 * test answer with anything at all (a wrong accept hash, an un-offered extension, a redirect, silence).
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';

/** A request head as the raw server read it. */
export interface RawRequest {
  method: string;
  path: string;
  /** Header values by lower-case name; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** The head as received, for exact assertions. */
  raw: string;
}

/** One accepted connection. */
export interface RawConnection {
  socket: Socket;
  request: RawRequest;
  /** Bytes after the head (the client's first frames, if any). */
  rest: Buffer;
  /** Resolves when the socket closes. */
  closed: Promise<void>;
}

/** `Sec-WebSocket-Accept` for a key, computed independently of the library. */
export function accept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** A 101 response for `request`, with `headers` added (a `null` value removes a default line). */
export function switchingProtocols(request: RawRequest, headers: Record<string, string | null> = {}): string {
  const lines: Record<string, string | null> = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': accept(request.headers['sec-websocket-key'] ?? ''),
    ...headers,
  };
  let out = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (const [name, value] of Object.entries(lines)) if (value !== null) out += `${name}: ${value}\r\n`;
  return out + '\r\n';
}

/** A TCP listener on 127.0.0.1 that hands each request head to `handler`. */
export class RawServer {
  /** Every connection accepted so far. */
  readonly connections: RawConnection[] = [];
  /** TCP connections accepted, whether or not they sent a request head. */
  accepted = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static start(handler: (connection: RawConnection) => void): Promise<RawServer> {
    return new Promise((resolve) => {
      let self: RawServer;
      const server = createServer((socket) => {
        self.accepted++;
        self.sockets.add(socket);
        socket.on('error', () => {});
        const closed = new Promise<void>((done) => socket.once('close', () => done()));
        void closed.then(() => self.sockets.delete(socket));
        let buffer = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          buffer = Buffer.concat([buffer, chunk]);
          const end = buffer.indexOf('\r\n\r\n');
          if (end === -1) return;
          socket.off('data', onData);
          const raw = buffer.subarray(0, end).toString('latin1');
          const [requestLine = '', ...lines] = raw.split('\r\n');
          const [method = '', path = ''] = requestLine.split(' ');
          const headers: Record<string, string> = {};
          for (const line of lines) {
            const colon = line.indexOf(':');
            const name = line.slice(0, colon).trim().toLowerCase();
            const value = line.slice(colon + 1).trim();
            headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
          }
          const connection: RawConnection = { socket, request: { method, path, headers, raw }, rest: buffer.subarray(end + 4), closed };
          self.connections.push(connection);
          handler(connection);
        };
        socket.on('data', onData);
      });
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        self = new RawServer(server, typeof address === 'object' && address !== null ? address.port : 0);
        resolve(self);
      });
    });
  }

  /** `ws://127.0.0.1:<port><path>` */
  url(path = '/'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** Destroys every connection and stops listening. */
  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
