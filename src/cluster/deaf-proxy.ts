/**
 * A fault-injecting TCP proxy in front of Redis for tests: {@link DeafProxy} forwards every byte both ways until
 * it is told to go deaf to a Pub/Sub channel. From then on, every connection that subscribed to that channel
 * stays open on both sides but is handed nothing Redis sends it — what a half-dead TCP path or a stuck proxy does
 * to a subscriber: no error, no close, just silence. {@link DeafProxy.hear} makes it deliver again.
 *
 * Replies are dropped whole (the Redis-to-client stream is cut at RESP2 value boundaries), so a connection that
 * hears again is handed the next complete message, never half of one.
 *
 * Binds to 127.0.0.1 only.
 *
 * @example
 * ```ts
 * const proxy = await DeafProxy.start({ host: '127.0.0.1', port: 6379 });
 * // point a node at proxy.url, let it subscribe, then:
 * proxy.deafen('volley:{chat:lobby}');
 * proxy.hear();
 * await proxy.close();
 * ```
 *
 * @module
 */

import { connect, createServer, type Server, type Socket } from 'node:net';

/** A RESP2 value: simple string, error or bulk string (as text), integer, null, or array. */
export type RespValue = string | number | null | RespValue[];

/**
 * Reads one complete RESP2 value of `buf` starting at `start`. Returns the value and where the next one starts,
 * or `undefined` when `buf` ends before the value does.
 *
 * @throws Error for a byte that starts no RESP2 value (the stream is not RESP2).
 */
export function readResp(buf: Buffer, start: number): { value: RespValue; end: number } | undefined {
  const eol = buf.indexOf('\r\n', start, 'latin1');
  if (eol < 0) return undefined;
  const line = buf.toString('latin1', start + 1, eol);
  const next = eol + 2;
  switch (buf[start]) {
    case 0x2b: // '+'
    case 0x2d: // '-'
      return { value: line, end: next };
    case 0x3a: // ':'
      return { value: Number(line), end: next };
    case 0x24: {
      // '$'
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buf.length < next + length + 2) return undefined;
      return { value: buf.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case 0x2a: {
      // '*'
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = readResp(buf, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`not RESP2: byte 0x${(buf[start] ?? 0).toString(16)} at ${start}`);
  }
}

/** One client connection and its upstream. */
interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Pub/Sub channels this client subscribed to (SUBSCRIBE, SSUBSCRIBE, PSUBSCRIBE arguments). */
  readonly subscribed: Set<string>;
  /** Bytes from Redis not yet forming a complete value. */
  fromRedis: Buffer;
  /** Bytes from the client not yet forming a complete command. */
  fromClient: Buffer;
}

/** Where Redis listens. */
export interface ProxyTarget {
  readonly host: string;
  readonly port: number;
}

/** A TCP proxy to Redis that can silence the subscribers of a channel. See the module description. */
export class DeafProxy {
  /** Pub/Sub messages (`message`, `smessage`, `pmessage`) dropped while deaf. */
  droppedMessages = 0;
  /** Every RESP value dropped while deaf (messages, and replies to anything sent meanwhile). */
  droppedValues = 0;
  readonly #server: Server;
  readonly #target: ProxyTarget;
  readonly #links = new Set<Link>();
  readonly #deafTo = new Set<string>();

  private constructor(server: Server, target: ProxyTarget) {
    this.#server = server;
    this.#target = target;
  }

  /** Listens on 127.0.0.1 (a free port) and forwards each connection to `target`. */
  static async start(target: ProxyTarget): Promise<DeafProxy> {
    const server = createServer();
    const proxy = new DeafProxy(server, target);
    server.on('connection', (client) => proxy.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  /** The proxy's port on 127.0.0.1. */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** Open connections subscribed to the Pub/Sub channel `name`. */
  listeners(name: string): number {
    let count = 0;
    for (const link of this.#links) if (link.subscribed.has(name)) count++;
    return count;
  }

  /** From now on, connections subscribed to `name` (now or later) receive nothing from Redis; both stay open. */
  deafen(name: string): void {
    this.#deafTo.add(name);
  }

  /** Delivers to every connection again, from the next complete value on (what was dropped stays dropped). */
  hear(): void {
    this.#deafTo.clear();
  }

  /** Destroys every connection and stops listening. */
  async close(): Promise<void> {
    for (const link of this.#links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    this.#links.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const upstream = connect(this.#target.port, this.#target.host);
    const link: Link = { client, upstream, subscribed: new Set(), fromRedis: Buffer.alloc(0), fromClient: Buffer.alloc(0) };
    this.#links.add(link);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const end = (): void => {
      this.#links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      this.#watchCommands(link, chunk);
    });
    upstream.on('data', (chunk: Buffer) => this.#relayReplies(link, chunk));
  }

  /** Records the channels a client subscribes to. Commands always pass. */
  #watchCommands(link: Link, chunk: Buffer): void {
    link.fromClient = link.fromClient.length === 0 ? chunk : Buffer.concat([link.fromClient, chunk]);
    let at = 0;
    for (let read = readResp(link.fromClient, at); read !== undefined; read = readResp(link.fromClient, at)) {
      at = read.end;
      const [command, ...args] = Array.isArray(read.value) ? read.value : [];
      if (typeof command === 'string' && /^[sp]?subscribe$/i.test(command)) {
        for (const arg of args) if (typeof arg === 'string') link.subscribed.add(arg);
      }
    }
    link.fromClient = link.fromClient.subarray(at);
  }

  /** Forwards complete values from Redis, or drops them while the client listens to a silenced channel. */
  #relayReplies(link: Link, chunk: Buffer): void {
    link.fromRedis = link.fromRedis.length === 0 ? chunk : Buffer.concat([link.fromRedis, chunk]);
    const deaf = [...link.subscribed].some((name) => this.#deafTo.has(name));
    let at = 0;
    for (let read = readResp(link.fromRedis, at); read !== undefined; read = readResp(link.fromRedis, at)) {
      at = read.end;
      if (!deaf) continue;
      this.droppedValues++;
      const kind = Array.isArray(read.value) ? read.value[0] : undefined;
      if (kind === 'message' || kind === 'smessage' || kind === 'pmessage') this.droppedMessages++;
    }
    if (!deaf && at > 0) link.client.write(link.fromRedis.subarray(0, at));
    link.fromRedis = link.fromRedis.subarray(at);
  }
}
