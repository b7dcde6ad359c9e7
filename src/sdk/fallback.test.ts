/**
 * The fallbacks against the composed server (`volley serve` in-process: WebSocket, SSE and long-polling on
 * one port): the chat scenario with recovery over SSE only and over long-polling only; falling back when
 * WebSockets are blocked or killed soon after opening; coming back to WebSocket; keepalive pings.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../server/harness.test.js';
import { WebSocket } from '../socket/index.js';
import { globalFetch, type FetchLike } from './environment.js';
import { received, sleep, until } from './harness.test.js';
import { SseParser } from './sse-parser.js';
import { Volley, type TransportKind, type VolleyOptions } from './index.js';

const T = { timeout: 20_000 };
const servers: TestServer[] = [];
const clients: Volley[] = [];
after(async () => {
  for (const client of clients) client.disconnect();
  for (const server of servers) await server.stop();
});

const NAMESPACES = {
  default: { subscribe: 'anyone', publish: 'anyone', history: 'anyone', presenceQuery: 'anyone' },
  namespaces: { chat: { historySize: 1000, presence: true } },
};

async function server(config: Record<string, unknown> = {}): Promise<TestServer> {
  const started = await startTestServer({ allowAnonymous: true, namespaces: NAMESPACES, ...config });
  servers.push(started);
  return started;
}

function newClient(url: string, options: VolleyOptions): Volley {
  const client = new Volley(url, { WebSocket, reconnect: { minDelayMs: 20, maxDelayMs: 200 }, ...options });
  clients.push(client);
  return client;
}

/** A WebSocket whose connections fail before opening (a proxy that blocks them) while `gate.blocked`. */
function gatedWebSocket(gate: { blocked: boolean }): typeof WebSocket {
  return class GatedWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(gate.blocked ? url.replace(/\/ws$/, '/blocked') : url, protocols);
    }
  } as typeof WebSocket;
}

type Msg = { n: number };

/**
 * An EventSource as browsers have it (what the SDK uses there), over Node's fetch: the platform's own `open`
 * event without data, named and unnamed message events, `error` when the stream ends; and it would reconnect
 * by itself, which the SDK must prevent by closing it on `error`.
 */
class TestEventSource {
  static instances: TestEventSource[] = [];
  readyState = 0;
  closed = false;
  readonly #listeners = new Map<string, Array<(event: unknown) => void>>();
  readonly #abort = new AbortController();
  constructor(readonly url: string) {
    TestEventSource.instances.push(this);
    void this.#run();
  }
  addEventListener(type: string, listener: (event: unknown) => void): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
    this.#abort.abort();
  }
  #dispatch(type: string, event: object): void {
    if (this.closed) return;
    for (const listener of this.#listeners.get(type) ?? []) listener({ type, ...event });
  }
  async #run(): Promise<void> {
    try {
      const response = await fetch(this.url, { headers: { Accept: 'text/event-stream' }, signal: this.#abort.signal });
      this.readyState = 1;
      this.#dispatch('open', {});
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const event of parser.push(decoder.decode(value, { stream: true }))) this.#dispatch(event.event, { data: event.data });
      }
    } catch {
      // aborted or failed: reported as error below
    }
    this.#dispatch('error', {});
  }
}

/**
 * Two clients over `transports` chat in one room; the receiver is forced off twice and the sender once while
 * 120 messages go by. Every message arrives once, in order, and the history holds each once.
 */
async function chat(t: TestServer, transports: TransportKind[], options: VolleyOptions = {}): Promise<void> {
  const room = `chat:over-${transports.join('-')}`;
  const alice = newClient(t.url, { transports, ...options });
  const bob = newClient(t.url, { transports, ...options });
  alice.connect();
  bob.connect();
  await Promise.all([alice.ready(5000), bob.ready(5000)]);
  assert.equal(alice.transport, transports[0]);
  assert.equal(bob.transport, transports[0]);
  const bobRoom = bob.channel<Msg>(room);
  const got = received(bobRoom);
  await bobRoom.subscribe();
  const first = await alice.channel<Msg>(room).publish({ n: 1 });
  assert.equal(first.offset, 1);

  const total = 120;
  const acks: Array<Promise<unknown>> = [];
  const sending = (async () => {
    for (let n = 2; n <= total; n++) {
      acks.push(alice.publish(room, { n }));
      await sleep(2);
    }
  })();
  const hub = t.server.hub;
  for (const [i, who] of [bob, alice, bob].entries()) {
    await until(() => got.length >= 30 * (i + 1), 8000, `${30 * (i + 1)} messages`);
    const before = who.clientId;
    hub.disconnect({ clientId: before });
    await until(() => who.state === 'connected' && who.clientId !== before, 8000, 'the reconnect');
    assert.equal(who.transport, transports[0]);
  }
  await sending;
  await Promise.all(acks);
  await until(() => got.length >= total, 8000, `all ${total} messages (have ${got.length})`);
  await sleep(50);
  const expected = Array.from({ length: total }, (_, i) => i + 1);
  assert.deepEqual(got.map((p) => p.offset), expected, 'each offset once, in order');
  assert.deepEqual(got.map((p) => p.data.n), expected, 'in the order sent');
  const { publications } = await bob.history<Msg>(room);
  assert.deepEqual(publications.map((p) => p.data.n), expected, 'each once in the history');
}

describe('the chat scenario over each fallback', () => {
  test('over SSE only (fetch streaming): connect, subscribe, publish with acks, recovery after forced disconnects', T, async () => {
    await chat(await server(), ['sse']);
  });

  test('over SSE with an EventSource (as in browsers): the same, and the SDK never lets it reconnect by itself', T, async () => {
    TestEventSource.instances = [];
    const t = await server();
    await chat(t, ['sse'], { EventSource: TestEventSource });
    assert.ok(TestEventSource.instances.length >= 4, 'one EventSource per connection');
    for (const source of TestEventSource.instances.slice(0, -2)) assert.equal(source.closed, true);
  });

  test('over long-polling only: the same', T, async () => {
    await chat(await server(), ['polling']);
  });

  test('over WebSocket: the same', T, async () => {
    await chat(await server(), ['websocket']);
  });
});

describe('falling back and coming back', () => {
  test('with WebSockets blocked the client connects over SSE; with SSE off too, over long-polling', T, async () => {
    const gate = { blocked: true };
    const t = await server();
    const viaSse = newClient(t.url, { WebSocket: gatedWebSocket(gate) });
    viaSse.connect();
    await viaSse.ready(5000);
    assert.equal(viaSse.transport, 'sse');

    const noSse = await server({ fallbacks: { sse: false } });
    const viaPolling = newClient(noSse.url, { WebSocket: gatedWebSocket(gate) });
    const transports: string[] = [];
    viaPolling.on('transport', ({ transport }) => transports.push(transport));
    viaPolling.connect();
    await viaPolling.ready(5000);
    assert.equal(viaPolling.transport, 'polling');
    assert.deepEqual(transports, ['polling']);
  });

  test('a WebSocket that hangs while opening counts as blocked after timeoutMs', T, async () => {
    const t = await server();
    class HangingWebSocket {
      readonly readyState = 0;
      readonly protocol = '';
      closed = false;
      send(): void {}
      close(): void {
        this.closed = true;
      }
      addEventListener(): void {}
    }
    const c = newClient(t.url, { WebSocket: HangingWebSocket, transports: ['websocket', 'polling'], timeoutMs: 200 });
    const started = Date.now();
    c.connect();
    await c.ready(5000);
    assert.equal(c.transport, 'polling');
    assert.ok(Date.now() - started >= 190);
  });

  test('on a fallback it tries WebSocket again and moves there, losing nothing', T, async () => {
    const gate = { blocked: true };
    const t = await server();
    const c = newClient(t.url, { WebSocket: gatedWebSocket(gate), fallback: { upgradeIntervalMs: 150 } });
    const publisher = newClient(t.url, { transports: ['websocket'] });
    c.connect();
    publisher.connect();
    await Promise.all([c.ready(5000), publisher.ready(5000)]);
    assert.equal(c.transport, 'sse');
    const room = c.channel<Msg>('chat:upgrade');
    const got = received(room);
    await room.subscribe();
    const sending = (async () => {
      for (let n = 1; n <= 60; n++) {
        await publisher.publish('chat:upgrade', { n });
        if (n === 20) gate.blocked = false;
        await sleep(5);
      }
    })();
    await until(() => c.transport === 'websocket' && c.state === 'connected', 8000, 'the upgrade');
    await sending;
    await until(() => got.length >= 60, 5000, 'all messages');
    assert.deepEqual(got.map((p) => p.data.n), Array.from({ length: 60 }, (_, i) => i + 1));
  });

  test('a WebSocket that a proxy kills right after it opens, twice, gives way to SSE', T, async () => {
    const t = await server();
    class KilledWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener('open', () => setTimeout(() => this.terminate(), 10));
      }
    }
    const c = newClient(t.url, { WebSocket: KilledWebSocket as typeof WebSocket, fallback: { upgradeIntervalMs: 0 } });
    c.connect();
    await until(() => c.transport === 'sse' && c.state === 'connected', 8000, 'the fallback to SSE');
    await sleep(100);
    assert.equal(c.transport, 'sse', 'and it stays there');
  });
});

describe('keepalive on fallbacks', () => {
  test('sends a ping command a little more often than the hub’s pingIntervalMs', T, async () => {
    const t = await server({ limits: { pingIntervalMs: 300 } });
    const fetch = globalFetch()!;
    let pings = 0;
    const counting: FetchLike = (url, init) => {
      if (init?.method === 'POST' && typeof init.body === 'string') pings += (init.body.match(/"type":"ping"/g) ?? []).length;
      return fetch(url, init);
    };
    const c = newClient(t.url, { transports: ['polling'], fetch: counting });
    c.connect();
    await c.ready(5000);
    await sleep(1000);
    assert.ok(pings >= 3, `${pings} pings in 1 s`);
    assert.equal(c.state, 'connected');
  });
});
