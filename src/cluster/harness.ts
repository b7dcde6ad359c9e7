/**
 * A multi-node test harness: {@link Cluster.start} runs N real `volley serve --redis` processes on one Redis
 * (a key prefix of their own, so test runs never meet), learns each node's port from its listening line, and
 * stops them all (SIGKILL) when asked. {@link RecoveringClient} is a hub client that survives what the tests do to
 * the nodes: when its connection ends it reconnects to another node and recovers its channel from its last
 * position, counting every publication it is given, so a test can assert zero loss and zero duplicates.
 *
 * Everything binds to 127.0.0.1. Used by `multi-node.test.ts`, `nginx.test.ts` and `bench/multinode.mjs`.
 *
 * @example
 * ```ts
 * const cluster = await Cluster.start({ nodes: 3, redisUrl: 'redis://127.0.0.1:6379' });
 * const [a, b, c] = cluster.nodes;
 * a.kill('SIGKILL');
 * await cluster.stop();
 * ```
 *
 * @module
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRedisClients, type RedisClient, type RedisClients } from '../engines/redis/connection.js';
import { WebSocket } from '../socket/index.js';

/** `bin/volley.js` of this checkout (dist/cluster/harness.js → ../../bin/volley.js). */
export const VOLLEY_BIN = fileURLToPath(new URL('../../bin/volley.js', import.meta.url));

/** The API key every harness node uses. */
export const API_KEY = 'cluster-test-api-key';

/** Options of {@link Cluster.start}. */
export interface ClusterOptions {
  /** @default 3 */
  readonly nodes?: number;
  /** @default process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' */
  readonly redisUrl?: string;
  /** Redis key prefix of this cluster. @default a random `vc-<hex>:` */
  readonly prefix?: string;
  /** Written as the nodes' config file (`--config`). */
  readonly config?: Record<string, unknown>;
  /** More `volley serve` flags. */
  readonly args?: readonly string[];
  /** Longest wait for a node's listening line, ms. @default 15000 */
  readonly startTimeoutMs?: number;
}

/** How a node process ended. */
export interface NodeExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One `volley serve` process. */
export class ClusterNode {
  /** Lines written to stdout and stderr, for diagnostics. */
  readonly output: string[] = [];
  readonly exited: Promise<NodeExit>;
  port = 0;
  #exit: NodeExit | null = null;

  constructor(
    readonly nodeId: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      }),
    );
  }

  /** `http://127.0.0.1:PORT` */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `ws://127.0.0.1:PORT/ws` */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.#exit === null;
  }

  /** Sends `signal` (SIGKILL: a crash; SIGTERM: a graceful drain). */
  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** The last lines of output, for assertion messages. */
  tail(lines = 20): string {
    return this.output.slice(-lines).join('\n');
  }
}

/** N `volley serve` processes on one Redis. */
export class Cluster {
  readonly nodes: ClusterNode[] = [];
  readonly prefix: string;
  readonly redisUrl: string;
  /** A command connection for the test's own Redis calls (CLIENT KILL, PUBSUB, cleanup). */
  readonly redis: RedisClient;
  readonly #clients: RedisClients;
  readonly #dir: string;
  readonly #args: string[];
  readonly #startTimeoutMs: number;
  #stopped = false;

  private constructor(options: ClusterOptions) {
    this.redisUrl = options.redisUrl ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
    this.prefix = options.prefix ?? `vc-${randomBytes(5).toString('hex')}:`;
    this.#startTimeoutMs = options.startTimeoutMs ?? 15_000;
    this.#dir = mkdtempSync(join(tmpdir(), 'volley-cluster-'));
    const configFile = join(this.#dir, 'volley.config.json');
    writeFileSync(configFile, JSON.stringify(options.config ?? {}));
    this.#args = [
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--redis',
      this.redisUrl,
      '--redis-prefix',
      this.prefix,
      '--allow-anonymous',
      '--api-key',
      API_KEY,
      '--log-level',
      'warn',
      '--config',
      configFile,
      ...(options.args ?? []),
    ];
    this.#clients = createRedisClients(this.redisUrl, { prefix: 'cluster-harness', onError: () => {} });
    this.redis = this.#clients.command;
  }

  /** Starts the nodes (`n1`, `n2`, …) in parallel and resolves once every one is listening. */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const cluster = new Cluster(options);
    try {
      const count = options.nodes ?? 3;
      const started = await Promise.all(Array.from({ length: count }, (_, i) => cluster.#spawn(`n${i + 1}`)));
      cluster.nodes.push(...started);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Starts node `index` again (same node id) after it exited; resolves once it listens. */
  async restart(index: number): Promise<ClusterNode> {
    const old = this.nodes[index]!;
    if (old.alive) throw new Error(`node ${old.nodeId} is still running`);
    const node = await this.#spawn(old.nodeId);
    this.nodes[index] = node;
    return node;
  }

  /** The running nodes. */
  get alive(): ClusterNode[] {
    return this.nodes.filter((node) => node.alive);
  }

  /**
   * Kills the Pub/Sub connections of this cluster's nodes in Redis (`CLIENT KILL ID … TYPE pubsub`), as a
   * Redis restart or a proxy would. Only this cluster's: the Redis may be shared with other tests. Returns how
   * many were killed.
   */
  async killPubSub(): Promise<number> {
    const list = (await this.redis.call('list pubsub clients', 'CLIENT', ['LIST', 'TYPE', 'pubsub'])) as string;
    let killed = 0;
    for (const line of list.split('\n')) {
      const id = /(?:^| )id=(\d+)/.exec(line)?.[1];
      const name = /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '';
      if (id === undefined || !name.includes(this.prefix.replace(/[^!-~]/g, '_'))) continue;
      killed += Number(await this.redis.call('kill a pubsub client', 'CLIENT', ['KILL', 'ID', id, 'TYPE', 'pubsub']));
    }
    return killed;
  }

  /** How many Redis Pub/Sub subscribers the hub channel `channel` has (one per node whose clients use it). */
  async subscribersOf(channel: string): Promise<number> {
    const reply = (await this.redis.call('count subscribers', 'PUBSUB', ['NUMSUB', `${this.prefix}{${channel}}`])) as [string, number];
    return Number(reply[1]);
  }

  /** SIGKILLs every node still running, deletes this cluster's keys, closes the Redis connection. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const node of this.nodes) node.kill('SIGKILL');
    await Promise.all(this.nodes.map((node) => node.exited));
    try {
      let cursor = '0';
      do {
        const [next, keys] = (await this.redis.call('clean up', 'SCAN', [cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000])) as [string, string[]];
        cursor = next;
        if (keys.length > 0) await this.redis.call('clean up', 'UNLINK', keys);
      } while (cursor !== '0');
    } catch {
      // Redis gone: nothing to clean.
    }
    await this.#clients.close();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** Spawns one node and waits for its listening line. */
  #spawn(nodeId: string): Promise<ClusterNode> {
    const child = spawn(process.execPath, [VOLLEY_BIN, 'serve', ...this.#args, '--node-id', nodeId], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, VOLLEY_CONFIG: '' },
    });
    const node = new ClusterNode(nodeId, child);
    if (this.#stopped) child.kill('SIGKILL');
    return new Promise<ClusterNode>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`node ${nodeId} did not listen within ${this.#startTimeoutMs} ms:\n${node.tail()}`));
      }, this.#startTimeoutMs);
      const onLine = (line: string): void => {
        node.output.push(line);
        const match = /^volley serve listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(line);
        if (match !== null && node.port === 0) {
          node.port = Number(match[1]);
          clearTimeout(timer);
          resolve(node);
        }
      };
      readLines(child.stdout!, onLine);
      readLines(child.stderr!, onLine);
      void node.exited.then((exit) => {
        clearTimeout(timer);
        if (node.port === 0) reject(new Error(`node ${nodeId} exited (${exit.code ?? exit.signal}) before listening:\n${node.tail()}`));
      });
    });
  }
}

function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    rest += chunk;
    let end: number;
    while ((end = rest.indexOf('\n')) >= 0) {
      onLine(rest.slice(0, end));
      rest = rest.slice(end + 1);
    }
  });
}

// ------------------------------------------------------------------------------------------------- clients

/** A channel position: epoch and the offset of the last publication received. */
export interface Position {
  epoch: string;
  offset: number;
}

/** Options of a {@link RecoveringClient}. */
export interface RecoveringClientOptions {
  /** Node WebSocket URLs, tried in turn from `first` when a connection ends. */
  readonly urls: () => readonly string[];
  /** Index of the first URL to use. @default 0 */
  readonly first?: number;
  readonly channel: string;
  /** Presence data to subscribe with. */
  readonly presenceData?: unknown;
  /** Pause before reconnecting when the server gave no advice, ms. @default 50 */
  readonly reconnectDelayMs?: number;
  /** Start from this position (recover at the first subscribe), as a client that was here before. */
  readonly position?: Position;
}

/**
 * A hub client subscribed to one channel that reconnects on its own: after a close it waits the server's
 * `reconnectAfterMs` (or a short pause), connects to the next node in its list and resubscribes with `recover`
 * from its position. It records everything: each publication's `data.n` and how often it was seen, offsets that
 * arrived out of order or twice, gap pushes, and the close codes it got.
 */
export class RecoveringClient {
  /** `data.n` of each publication received, in arrival order (replayed ones included). */
  readonly received: number[] = [];
  /** How many times each `data.n` was received. */
  readonly seen = new Map<number, number>();
  /** Publications whose offset was not position + 1 when they arrived (duplicates or reordering). */
  readonly outOfOrder: Array<{ offset: number; position: number }> = [];
  readonly gaps: Array<{ fromOffset: number; toOffset: number; epochChanged: boolean }> = [];
  /** Close codes of the connections that ended, and the disconnect pushes that came before them. */
  readonly closes: number[] = [];
  readonly disconnects: Array<{ code: number; reconnectAfterMs?: number }> = [];
  /** Node URLs this client was connected to, in order. */
  readonly history: string[] = [];
  /** Subscribe results with `recovered: true` after a reconnect. */
  recoveries = 0;
  position: Position | null = null;
  /** The current connection's client id. */
  clientId = '';
  #ws: WebSocket | null = null;
  #index: number;
  #stopped = false;
  #advice: number | undefined;
  #nextId = 1;
  #connected: (() => void) | null = null;
  readonly #options: RecoveringClientOptions;

  constructor(options: RecoveringClientOptions) {
    this.#options = options;
    this.#index = options.first ?? 0;
    if (options.position !== undefined) this.position = { ...options.position };
  }

  /** The URL of the current connection. */
  get url(): string {
    return this.history[this.history.length - 1] ?? '';
  }

  /** Connects and subscribes; resolves once subscribed. */
  start(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#connected = resolve;
      this.#open();
    });
  }

  /** Resolves once the position reached `offset` (or rejects after `ms`). */
  async reach(offset: number, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while ((this.position?.offset ?? 0) < offset) {
      if (Date.now() > deadline) throw new Error(`client at ${this.url} stuck at offset ${this.position?.offset} < ${offset}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops reconnecting and closes. */
  stop(): void {
    this.#stopped = true;
    this.#ws?.terminate();
  }

  #open(): void {
    if (this.#stopped) return;
    const urls = this.#options.urls();
    const url = urls[this.#index % urls.length]!;
    this.history.push(url);
    const ws = new WebSocket(url, 'volley.v1.json', { perMessageDeflate: false, handshakeTimeout: 3000 });
    this.#ws = ws;
    this.#advice = undefined;
    ws.on('error', () => {});
    ws.on('open', () => {
      // connect, then subscribe with the position (and presence data) in one write: replies come in order.
      const recover = this.position === null ? {} : { recover: { epoch: this.position.epoch, offset: this.position.offset } };
      const presence = this.#options.presenceData !== undefined ? { presenceData: this.#options.presenceData } : {};
      ws.send(JSON.stringify({ id: this.#nextId++, type: 'connect' }));
      ws.send(JSON.stringify({ id: this.#nextId++, type: 'subscribe', channel: this.#options.channel, ...recover, ...presence }));
    });
    ws.on('message', (data: Buffer) => this.#message(JSON.parse(data.toString('utf8'))));
    ws.on('close', (code: number) => {
      this.closes.push(code);
      if (this.#stopped) return;
      // Another node next time (the one that failed may be gone).
      this.#index++;
      setTimeout(() => this.#open(), this.#advice ?? this.#options.reconnectDelayMs ?? 50);
    });
  }

  #message(message: any): void {
    if (typeof message.id === 'number') {
      const result = message.result;
      if (result === undefined) {
        // A refused subscribe (the node is draining, Redis unreachable): start over on another node.
        this.#ws?.terminate();
        return;
      }
      if (typeof result.clientId === 'string') this.clientId = result.clientId;
      const subscribed = typeof result.epoch === 'string' ? result : undefined;
      if (subscribed !== undefined) {
        if (this.position === null) {
          this.position = { epoch: subscribed.epoch, offset: subscribed.offset };
        } else {
          if (subscribed.recovered === true) this.recoveries++;
          for (const publication of subscribed.publications ?? []) this.#publication(publication.offset, publication.data);
          this.position = { epoch: subscribed.epoch, offset: Math.max(this.position.offset, subscribed.offset) };
        }
        this.#connected?.();
        this.#connected = null;
      }
      return;
    }
    switch (message.type) {
      case 'publication':
        if (message.channel === this.#options.channel) this.#publication(message.offset, message.data);
        return;
      case 'gap':
        if (message.channel !== this.#options.channel) return;
        this.gaps.push({ fromOffset: message.fromOffset, toOffset: message.toOffset, epochChanged: message.epochChanged });
        // Continue from the new position (an epoch change restarts the offsets; the new epoch comes with the
        // next subscribe reply).
        if (this.position !== null) this.position = { epoch: message.epochChanged ? '' : this.position.epoch, offset: message.toOffset };
        return;
      case 'disconnect':
        this.disconnects.push({ code: message.code, ...(message.reconnectAfterMs !== undefined ? { reconnectAfterMs: message.reconnectAfterMs } : {}) });
        this.#advice = message.reconnectAfterMs;
        return;
      default:
        return;
    }
  }

  #publication(offset: number, data: { n: number }): void {
    const position = this.position?.offset ?? 0;
    if (offset !== position + 1) this.outOfOrder.push({ offset, position });
    if (offset <= position) return; // a duplicate a client would drop; recorded above
    if (this.position !== null) this.position.offset = offset;
    this.received.push(data.n);
    this.seen.set(data.n, (this.seen.get(data.n) ?? 0) + 1);
  }
}

/** Loss and duplicates of `clients` against the numbers 1..`total`. */
export function tally(clients: readonly RecoveringClient[], total: number): { received: number; lost: number; duplicates: number; outOfOrder: number; gaps: number } {
  let received = 0;
  let lost = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let gaps = 0;
  for (const client of clients) {
    received += client.received.length;
    outOfOrder += client.outOfOrder.length;
    gaps += client.gaps.length;
    for (let n = 1; n <= total; n++) {
      const count = client.seen.get(n) ?? 0;
      if (count === 0) lost++;
      else duplicates += count - 1;
    }
  }
  return { received, lost, duplicates, outOfOrder, gaps };
}

/**
 * A WebSocket publisher on one node: publishes `{ n }` for n = first..first+total-1 (idempotency key `n-<n>`),
 * with at most `window` publishes awaiting their reply, and at most `ratePerSecond`. Resolves with the last
 * offset; rejects on an error reply.
 */
export async function publishNumbered(
  wsUrl: string,
  channel: string,
  total: number,
  options: { first?: number; window?: number; ratePerSecond?: number; onProgress?: (acked: number) => void } = {},
): Promise<{ lastOffset: number; epoch: string }> {
  const first = options.first ?? 1;
  const ws = new WebSocket(wsUrl, 'volley.v1.json', { perMessageDeflate: false });
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const window = options.window ?? 16;
  const interval = options.ratePerSecond === undefined ? 0 : 1000 / options.ratePerSecond;
  let next = 1;
  let acked = 0;
  let lastOffset = 0;
  let epoch = '';
  const startedAt = Date.now();
  try {
    return await new Promise((resolve, reject) => {
      const pending = new Set<number>();
      const pump = (): void => {
        while (next <= total && pending.size < window) {
          if (interval > 0 && Date.now() - startedAt < (next - 1) * interval) {
            setTimeout(pump, Math.max(1, (next - 1) * interval - (Date.now() - startedAt)));
            return;
          }
          const i = next++;
          const n = first + i - 1;
          pending.add(i + 1);
          ws.send(JSON.stringify({ id: i + 1, type: 'publish', channel, data: { n }, idempotencyKey: `n-${n}` }));
        }
      };
      ws.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString('utf8'));
        if (message.id === 1) {
          if (message.error !== undefined) return reject(new Error(`connect: ${message.error.code}`));
          return pump();
        }
        if (typeof message.id !== 'number' || !pending.delete(message.id)) return;
        if (message.error !== undefined) return reject(new Error(`publish ${message.id - 1}: ${message.error.code} ${message.error.message}`));
        acked++;
        lastOffset = Math.max(lastOffset, message.result.offset);
        epoch = message.result.epoch;
        options.onProgress?.(acked);
        if (acked === total) resolve({ lastOffset, epoch });
        else pump();
      });
      ws.on('close', () => reject(new Error(`the publisher's connection closed after ${acked} of ${total}`)));
      ws.send(JSON.stringify({ id: 1, type: 'connect' }));
    });
  } finally {
    ws.terminate();
  }
}

/** `POST /api/<route>` with the harness API key; resolves to status and JSON. */
export async function api(url: string, route: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${url}/api/${route}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `apikey ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}
