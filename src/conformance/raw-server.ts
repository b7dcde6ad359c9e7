/**
 * A raw-frame WebSocket test server over `node:net`, for testing clients the way Autobahn|Testsuite's fuzzing
 * server does. It parses the client's opening handshake, answers 101 with whatever extension response the
 * case chooses (and, if asked, the first frames in the same write), then hands each connection to a
 * {@link RawPeer} in the server role: it sends hand-built unmasked frames and parses the client's frames,
 * noting any that are not masked and keeping every masking key so a case can check that they vary.
 *
 * After a close handshake the server closes TCP first (RFC 6455 §7.1.1), 10 ms later, so a case can tell a
 * client that waits for it from one that hangs up on its own.
 *
 * @example
 * ```ts
 * const server = await RawServer.listen();
 * server.reply = (req) => ({ extensions: 'permessage-deflate' });
 * const ws = new WebSocket(server.url);
 * const peer = await server.accept();
 * await peer.send({ opcode: OP.PING, payload: 'hi' });
 * ```
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { agreementOf, parseExtensions, type ExtensionElement } from './deflate.js';
import { RawPeer, type PeerOptions } from './peer.js';

/** The client's opening handshake, as the raw server read it. */
export interface HandshakeRequest {
  method: string;
  path: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Parsed `Sec-WebSocket-Extensions` offers. */
  offers: ExtensionElement[];
}

/** How the raw server answers one handshake. */
export interface HandshakeReply {
  /** `Sec-WebSocket-Extensions` response; omitted or null declines every extension. */
  extensions?: string | null;
  /** Bytes written in the same write as the 101 response (frames riding with the handshake). */
  trailing?: Buffer;
  /** Peer behaviour for this connection. */
  peer?: Omit<PeerOptions, 'role' | 'deflate'>;
}

/** A connection accepted by the raw server. */
export class RawServerPeer extends RawPeer {
  constructor(
    socket: Socket,
    head: Buffer,
    options: PeerOptions,
    /** The client's handshake. */
    readonly request: HandshakeRequest,
  ) {
    super(socket, head, options);
  }

  /** Masking keys of every frame received, as hex strings. */
  maskKeys(): string[] {
    return this.frames.map((frame) => frame.maskKey?.toString('hex') ?? 'unmasked');
  }
}

/** A raw WebSocket server on 127.0.0.1 and an ephemeral port; see the module comment. */
export class RawServer {
  /** Decides the reply to each handshake; change it between cases. @default decline every extension */
  reply: (request: HandshakeRequest) => HandshakeReply = () => ({});

  private readonly ready: RawServerPeer[] = [];
  private readonly waiting: Array<(peer: RawServerPeer) => void> = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => this.onConnection(socket));
  }

  /** Starts a raw server on 127.0.0.1 and an ephemeral port. */
  static listen(): Promise<RawServer> {
    const server = createServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(new RawServer(server)));
    });
  }

  /** The bound port. */
  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return address.port;
  }

  /** `ws://127.0.0.1:<port>/<path>`. */
  url(path = ''): string {
    return `ws://127.0.0.1:${this.port}/${path}`;
  }

  /** The next connection whose handshake completed. */
  accept(timeoutMs = 5000): Promise<RawServerPeer> {
    const peer = this.ready.shift();
    if (peer !== undefined) return Promise.resolve(peer);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(take), 1);
        reject(new Error(`no client completed a handshake within ${timeoutMs} ms`));
      }, timeoutMs);
      const take = (accepted: RawServerPeer) => {
        clearTimeout(timer);
        resolve(accepted);
      };
      this.waiting.push(take);
    });
  }

  /** Destroys every connection and stops listening. */
  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    const onError = () => socket.destroy();
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buffered.length > 16384) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.off('error', onError);
      this.handshake(socket, parseRequest(buffered.subarray(0, end).toString('latin1')), buffered.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.on('error', onError);
  }

  private handshake(socket: Socket, request: HandshakeRequest, head: Buffer): void {
    const key = request.headers['sec-websocket-key'] ?? '';
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    const reply = this.reply(request);
    const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`];
    if (reply.extensions) lines.push(`Sec-WebSocket-Extensions: ${reply.extensions}`);
    const response = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    socket.write(reply.trailing ? Buffer.concat([response, reply.trailing]) : response);
    const accepted = parseExtensions(reply.extensions ?? undefined)[0];
    const peer = new RawServerPeer(
      socket,
      head,
      { ...reply.peer, role: 'server', deflate: accepted?.name === 'permessage-deflate' ? agreementOf(accepted) : null },
      request,
    );
    const waiter = this.waiting.shift();
    if (waiter) waiter(peer);
    else this.ready.push(peer);
  }
}

function parseRequest(text: string): HandshakeRequest {
  const [requestLine = '', ...headerLines] = text.split('\r\n');
  const [method = '', path = ''] = requestLine.split(' ');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { method, path, headers, offers: parseExtensions(headers['sec-websocket-extensions']) };
}
