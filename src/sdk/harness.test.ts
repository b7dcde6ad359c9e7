/**
 * Shared helpers of the SDK tests: an in-process hub with open namespaces, clients over our own WebSocket,
 * bounded waits, a manual clock, and the server-side sockets (to cut them like a network failure would).
 * A `.test` file so that it stays out of the package; it has no tests of its own.
 */
import type { Socket } from 'node:net';
import { after } from 'node:test';
import { startHub, type StartHubOptions, type StartedHub } from '../hub/testing/start-hub.js';
import { WebSocket } from '../socket/index.js';
import type { Clock } from './environment.js';
import { Volley, type Publication, type VolleyOptions } from './index.js';

/** Namespaces open to anonymous clients: `chat` keeps 1000 publications, `short` keeps 5, `live` none. */
export const OPEN_NAMESPACES: StartHubOptions['namespaces'] = {
  default: { subscribe: 'anyone', publish: 'anyone', history: 'anyone', presenceQuery: 'anyone' },
  namespaces: {
    chat: { historySize: 1000, presence: true, joinLeave: true },
    short: { historySize: 5 },
    live: { historySize: 0 },
    closed: { subscribe: 'nobody', publish: 'nobody' },
  },
};

/** A running hub, its HTTP base URL, and the raw sockets it accepted. */
export interface TestHub extends StartedHub {
  readonly base: string;
  readonly sockets: Set<Socket>;
  /** Destroys every accepted socket: the clients see their connection drop without a close frame. */
  cutAll(): void;
}

export async function startTestHub(options: StartHubOptions = {}): Promise<TestHub> {
  const started = await startHub({ allowAnonymous: true, namespaces: OPEN_NAMESPACES, ...options });
  const sockets = new Set<Socket>();
  started.server.on('upgrade', (_req, socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return {
    ...started,
    base: `http://127.0.0.1:${started.port}`,
    sockets,
    cutAll() {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** The hubs and clients of one test file, all ended after its last test (clients first). */
export interface TestScope {
  /** Starts a hub as {@link startTestHub} does. */
  hub(options?: StartHubOptions): Promise<TestHub>;
  /** A client connected as {@link connected} connects it. */
  client(base: string, options?: VolleyOptions): Promise<Volley>;
  /** Ends `client` with the others; returns it. */
  track(client: Volley): Volley;
}

/** Starts the scope of a test file; call it once, at the top level (it registers an `after` hook). */
export function testScope(): TestScope {
  const hubs: TestHub[] = [];
  const clients: Volley[] = [];
  after(async () => {
    for (const client of clients) client.disconnect();
    for (const hub of hubs) await hub.close();
  });
  const track = (client: Volley): Volley => {
    clients.push(client);
    return client;
  };
  return {
    async hub(options = {}) {
      const started = await startTestHub(options);
      hubs.push(started);
      return started;
    },
    client: async (base, options = {}) => track(await connected(base, options)),
    track,
  };
}

/** A client over our WebSocket only, connected. */
export async function connected(base: string, options: VolleyOptions = {}): Promise<Volley> {
  const client = new Volley(base, { WebSocket, transports: ['websocket'], reconnect: { minDelayMs: 20, maxDelayMs: 200 }, ...options });
  client.connect();
  await client.ready(5000);
  return client;
}

/** Resolves once `predicate()` holds; rejects after `ms`, naming `what`. */
export async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Payloads received on a channel, in order. */
export function received<T>(channel: { on(event: 'publication', fn: (pub: Publication<T>) => void): unknown }): Publication<T>[] {
  const list: Publication<T>[] = [];
  channel.on('publication', (pub) => list.push(pub));
  return list;
}

/**
 * A clock that moves only when told: timers run in time order as `advance()` passes them. `now()` starts at
 * the real time (compared with the hub's `expiresAt`).
 */
export class ManualClock implements Clock {
  #now = Date.now();
  #timers: Array<{ at: number; seq: number; fn: () => void }> = [];
  #seq = 0;
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { at: this.#now + Math.max(0, ms), seq: ++this.#seq, fn };
    this.#timers.push(timer);
    return timer;
  }
  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t !== handle);
  }
  /** Pending timers' due times, relative to now. */
  pending(): number[] {
    return this.#timers.map((t) => t.at - this.#now).sort((a, b) => a - b);
  }
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#timers[0];
      if (next === undefined || next.at > end) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }
}
