/**
 * Test harness of the HTTP fallback transports: a hub with memory engines behind a `node:http` server on
 * 127.0.0.1 that routes to a {@link PollingTransport} and an {@link SseTransport}; a small HTTP client that
 * can stream request bodies; and an event-stream reader that parses what a browser's `EventSource` would.
 * A `.test` file so that it stays out of the package; it has no tests of its own.
 */
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MemoryBroker, MemoryHistoryStore, MemoryPresenceStore } from '../engines/index.js';
import { createTokenVerifier } from '../hub/auth.js';
import { Hub, type HubOptions } from '../hub/hub.js';
import { TEST_SECRET } from '../hub/testing/tokens.js';
import { httpRequest, type HttpAnswer, type HttpRequestOptions } from '../test-support/http-testing.js';
import { within } from '../test-support/util.js';
import { PollingTransport, type PollingTransportOptions } from './polling.js';
import { SseTransport, type SseTransportOptions } from './sse.js';

/** A hub serving the fallbacks. */
export interface FallbackHub {
  readonly hub: Hub;
  readonly polling: PollingTransport;
  readonly sse: SseTransport;
  readonly broker: MemoryBroker;
  readonly history: MemoryHistoryStore;
  readonly server: Server;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Options of {@link startFallbackHub}. */
export interface FallbackHubOptions {
  /** Over: anonymous allowed, HS256 tokens with TEST_SECRET, namespaces `chat` (history 100) and `short` (history 3). */
  readonly hub?: Partial<Omit<HubOptions, 'broker' | 'history' | 'presence'>>;
  readonly polling?: PollingTransportOptions;
  readonly sse?: SseTransportOptions;
}

/** Starts a hub with both fallbacks on a free port. */
export async function startFallbackHub(options: FallbackHubOptions = {}): Promise<FallbackHub> {
  const broker = new MemoryBroker();
  const history = new MemoryHistoryStore();
  const presence = new MemoryPresenceStore();
  const hub = new Hub({
    broker,
    history,
    presence,
    allowAnonymous: true,
    verifier: createTokenVerifier({ hmacSecret: TEST_SECRET }),
    namespaces: {
      default: { subscribe: 'anyone', publish: 'anyone', history: 'anyone' },
      namespaces: {
        chat: { subscribe: 'anyone', publish: 'anyone', history: 'anyone', historySize: 100 },
        short: { subscribe: 'anyone', publish: 'anyone', historySize: 3 },
        live: { subscribe: 'anyone', publish: 'anyone', historySize: 0 },
        private: { subscribe: 'authenticated', publish: 'nobody' },
      },
    },
    ...options.hub,
  });
  const polling = new PollingTransport(hub, options.polling);
  const sse = new SseTransport(hub, options.sse);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    if (polling.handle(req, res) || sse.handle(req, res)) return;
    res.writeHead(404).end();
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  return {
    hub,
    polling,
    sse,
    broker,
    history,
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      (closing ??= (async () => {
        hub.close();
        await polling.close();
        await sse.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
        await Promise.all([broker.close(), history.close(), presence.close()]);
      })()),
  };
}

// ------------------------------------------------------------------------------------------------- requests

/** An HTTP answer, body read whole. */
export type Answer = HttpAnswer;

/** Options of {@link call}. */
export type CallOptions = HttpRequestOptions;

/** One request on a fresh connection. */
export const call = httpRequest;

// ------------------------------------------------------------------------------------------- event streams

/** One block of an event stream, as `EventSource` parses it. */
export interface StreamBlock {
  /** The `event:` field; absent for unnamed events and comments. */
  readonly event?: string;
  readonly id?: string;
  readonly data?: string;
  /** The text of a comment line (`: ping` → `ping`). */
  readonly comment?: string;
}

/** Reads an event stream over `node:http` as `EventSource` would, block by block. */
export class StreamReader {
  readonly blocks: StreamBlock[] = [];
  status = 0;
  headers: IncomingHttpHeaders = {};
  /** Resolves when the response ends (or the connection closes). */
  readonly ended: Promise<void>;
  private res: IncomingMessage | null = null;
  private buffered = '';
  private readonly waiters: Array<() => void> = [];
  private endedFlag = false;
  private readonly req;

  private constructor(url: string, headers: Record<string, string>, opened: (error: Error | null) => void) {
    let markEnded!: () => void;
    this.ended = new Promise((resolve) => (markEnded = resolve));
    const finish = (): void => {
      this.endedFlag = true;
      markEnded();
      for (const wake of this.waiters.splice(0)) wake();
    };
    this.req = request(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      this.res = res;
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => this.feed(chunk));
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
      opened(null);
    });
    this.req.on('error', (error) => {
      finish();
      opened(error);
    });
    this.req.end();
  }

  /** Opens a stream and resolves once the status line and headers arrived. */
  static open(url: string, headers: Record<string, string> = {}): Promise<StreamReader> {
    return within(
      new Promise<StreamReader>((resolve, reject) => {
        const reader: StreamReader = new StreamReader(url, headers, (error) => (error === null ? resolve(reader) : reject(error)));
      }),
      5000,
      `the stream ${url}`,
    );
  }

  /** The next block `match` accepts (taken out of {@link blocks}), within `ms`. */
  async next(match: (block: StreamBlock) => boolean = (b) => b.comment === undefined, ms = 3000): Promise<StreamBlock> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.blocks.findIndex(match);
      if (index !== -1) return this.blocks.splice(index, 1)[0]!;
      if (this.endedFlag) throw new Error(`the stream ended without the block wanted (left: ${JSON.stringify(this.blocks)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a block (left: ${JSON.stringify(this.blocks)})`);
      await within(new Promise<void>((resolve) => this.waiters.push(resolve)), left, 'a block').catch(() => {});
    }
  }

  /** The next event named `name`. */
  event(name: string, ms?: number): Promise<StreamBlock> {
    return this.next((b) => b.event === name, ms);
  }

  /** The next unnamed event's data, parsed (an SDK stream's hub message). */
  async message(match: (message: any) => boolean = () => true, ms?: number): Promise<any> {
    const block = await this.next((b) => b.event === undefined && b.data !== undefined && match(JSON.parse(b.data)), ms);
    return JSON.parse(block.data!);
  }

  /** Closes the connection. */
  close(): void {
    this.req.destroy();
    this.res?.destroy();
  }

  private feed(chunk: string): void {
    this.buffered += chunk;
    for (;;) {
      const end = this.buffered.indexOf('\n\n');
      if (end === -1) break;
      const text = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 2);
      const block: { event?: string; id?: string; data?: string; comment?: string } = {};
      for (const line of text.split('\n')) {
        if (line.startsWith(':')) block.comment = line.slice(1).trim();
        else {
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') block.event = value;
          else if (field === 'id') block.id = value;
          else if (field === 'data') block.data = block.data === undefined ? value : `${block.data}\n${value}`;
        }
      }
      this.blocks.push(block);
    }
    for (const wake of this.waiters.splice(0)) wake();
  }
}

/** Decodes an event id of a subscribe-by-URL stream. */
export function positionsOf(id: string): Record<string, [string, number]> {
  return JSON.parse(Buffer.from(id, 'base64url').toString('utf8')) as Record<string, [string, number]>;
}

// ----------------------------------------------------------------------------------------------- polling

/** A long-polling client: open, send commands, poll. */
export class PollClient {
  private nextId = 1;
  /** Messages received by {@link poll} and not yet taken. */
  readonly inbox: any[] = [];

  private constructor(
    readonly url: string,
    readonly sid: string,
  ) {}

  static async open(url: string, headers: Record<string, string> = {}): Promise<PollClient> {
    const answer = await call(`${url}/poll/open`, { method: 'POST', headers });
    if (answer.status !== 200) throw new Error(`open answered ${answer.status}: ${answer.text}`);
    return new PollClient(url, answer.json.sid as string);
  }

  /** Sends commands (ids assigned in order); returns the ids and the answer. */
  async send(...commands: Array<Record<string, unknown>>): Promise<{ ids: number[]; answer: Answer }> {
    const ids = commands.map(() => this.nextId++);
    const answer = await call(`${this.url}/poll/send?sid=${this.sid}`, { method: 'POST', body: commands.map((c, i) => ({ id: ids[i], ...c })) });
    return { ids, answer };
  }

  /** One poll. */
  poll(timeoutMs = 5000): Promise<Answer> {
    return call(`${this.url}/poll?sid=${this.sid}`, { timeoutMs });
  }

  /** Polls until a message `match` accepts has arrived; returns it. */
  async until(match: (message: any) => boolean, ms = 3000): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.inbox.findIndex(match);
      if (index !== -1) return this.inbox.splice(index, 1)[0];
      if (Date.now() > deadline) throw new Error(`no matching message (inbox: ${JSON.stringify(this.inbox)})`);
      const answer = await this.poll();
      if (answer.status !== 200) throw new Error(`poll answered ${answer.status}: ${answer.text}`);
      this.inbox.push(...(answer.json as unknown[]));
    }
  }

  /** Sends one command and polls for its reply. */
  async command(command: Record<string, unknown>): Promise<any> {
    const { ids, answer } = await this.send(command);
    if (answer.status !== 204) throw new Error(`send answered ${answer.status}: ${answer.text}`);
    return this.until((m) => m.id === ids[0]);
  }
}

/**
 * A long-polling client whose requests go to whichever node the test names, as a round-robin balancer would send
 * them (several nodes without sticky sessions); failed requests fail the test.
 */
export class RoamingPollClient {
  #nextId = 1;
  /** Messages received by {@link poll} and not yet taken. */
  readonly inbox: any[] = [];

  private constructor(
    readonly sid: string,
    private readonly untilMs: number,
  ) {}

  /** Opens a session on `url`; {@link until} waits `untilMs` (default 3000) unless told otherwise. */
  static async open(url: string, options: { readonly untilMs?: number } = {}): Promise<RoamingPollClient> {
    const answer = await call(`${url}/poll/open`, { method: 'POST' });
    assert.equal(answer.status, 200, answer.text);
    return new RoamingPollClient(answer.json.sid as string, options.untilMs ?? 3000);
  }

  /** Sends commands to `url` (ids assigned in order); returns the ids and the answer. */
  async send(url: string, ...commands: Array<Record<string, unknown>>): Promise<{ ids: number[]; answer: Answer }> {
    const ids = commands.map(() => this.#nextId++);
    const answer = await call(`${url}/poll/send?sid=${this.sid}`, { method: 'POST', body: commands.map((c, i) => ({ id: ids[i], ...c })) });
    return { ids, answer };
  }

  /** One poll through `url`. */
  poll(url: string, timeoutMs = 5000): Promise<Answer> {
    return call(`${url}/poll?sid=${this.sid}`, { timeoutMs });
  }

  /** Polls through `url` until a message `match` accepts has arrived; returns it. */
  async until(url: string, match: (message: any) => boolean, ms = this.untilMs): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.inbox.findIndex(match);
      if (index !== -1) return this.inbox.splice(index, 1)[0];
      if (Date.now() > deadline) throw new Error(`no matching message (inbox: ${JSON.stringify(this.inbox)})`);
      const answer = await this.poll(url);
      assert.equal(answer.status, 200, answer.text);
      this.inbox.push(...(answer.json as unknown[]));
    }
  }
}
