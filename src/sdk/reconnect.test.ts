/**
 * Reconnects and exact recovery against a real hub: forced disconnects (the hub's `disconnect`, and sockets
 * cut without a close frame) while another client publishes; gaps when the history is too short; the
 * outbox across a disconnect; the hub's reconnect advice; codes that forbid a reconnect; rate limits; and
 * the backoff delays, with a manual clock and injected randomness.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { WebSocket } from '../socket/index.js';
import { ManualClock, received, sleep, testScope, until } from './harness.test.js';
import { backoffBounds, backoffDelay, DEFAULT_RECONNECT, Volley, type DisconnectedEvent, type GapEvent, type ReconnectingEvent } from './index.js';

const T = { timeout: 20_000 };
const { hub, client, track } = testScope();

/** Every `name` event of `c`, in order. */
function events<E>(c: Volley, name: 'disconnected' | 'reconnecting'): E[] {
  const list: E[] = [];
  c.on(name, (e) => list.push(e as E));
  return list;
}

type Msg = { n: number };

describe('recovery', () => {
  test('a subscriber forced off four times while another client publishes gets every publication once, in order', T, async () => {
    // The publisher sends faster than the default rate limit (100/s); rate limits are tested below.
    const h = await hub({ rateLimits: { connection: false } });
    const subscriber = await client(h.base);
    const publisher = await client(h.base);
    const room = subscriber.channel<Msg>('chat:storm');
    const got = received(room);
    const gaps: GapEvent[] = [];
    room.on('gap', (g) => gaps.push(g));
    const subscribedEvents: Array<{ recovered: boolean; wasRecovering: boolean }> = [];
    room.on('subscribed', (e) => subscribedEvents.push(e));
    await room.subscribe();

    const total = 400;
    const acks: Array<Promise<unknown>> = [];
    const publishing = (async () => {
      for (let n = 1; n <= total; n++) {
        acks.push(publisher.publish('chat:storm', { n }));
        if (n % 4 === 0) await sleep(1);
      }
    })();
    // Four forced disconnects while publishing: two by the hub (4004), two cut sockets (1006, no close frame).
    for (let i = 0; i < 4; i++) {
      await until(() => got.length >= (i + 1) * 60, 5000, `${(i + 1) * 60} publications`);
      const before = subscriber.clientId;
      if (i % 2 === 0) h.hub.disconnect({ clientId: before });
      else h.cutAll(); // the publisher drops too: its publishes in flight go out again with their keys
      await until(() => subscriber.state === 'connected' && subscriber.clientId !== before, 5000, 'the reconnect');
    }
    await publishing;
    await Promise.all(acks);
    await until(() => got.length >= total, 10_000, `all ${total} publications (have ${got.length})`);
    await sleep(50);
    assert.equal(got.length, total, 'no duplicates');
    assert.deepEqual(got.map((p) => p.offset), Array.from({ length: total }, (_, i) => i + 1), 'every offset once, in order');
    assert.deepEqual(got.map((p) => p.data.n), Array.from({ length: total }, (_, i) => i + 1), 'in publish order');
    assert.deepEqual(gaps, []);
    assert.ok(subscribedEvents.length >= 5);
    assert.ok(subscribedEvents.slice(1).every((e) => e.wasRecovering && e.recovered), 'every resubscribe recovered');
    const { publications } = await publisher.history<Msg>('chat:storm');
    assert.deepEqual(publications.map((p) => p.data.n), Array.from({ length: total }, (_, i) => i + 1), 'the history has each once');
  });

  test('when the history no longer holds what was missed, a gap names the lost range and the rest follows once', T, async () => {
    const h = await hub();
    const subscriber = await client(h.base);
    const publisher = await client(h.base);
    const room = subscriber.channel<Msg>('short:ticker'); // history keeps 5
    const got = received(room);
    const gaps: GapEvent[] = [];
    room.on('gap', (g) => gaps.push(g));
    await room.subscribe();
    await publisher.publish('short:ticker', { n: 1 });
    await until(() => got.length === 1, 2000, 'the first publication');
    // Disconnect with advice to stay away 300 ms; publish 12 meanwhile.
    h.hub.session(subscriber.clientId)!.disconnect(4004, 'go away for a while', 300);
    for (let n = 2; n <= 13; n++) await publisher.publish('short:ticker', { n });
    await until(() => got.length === 6, 5000, 'the publications still in history');
    await sleep(50);
    assert.deepEqual(gaps, [{ channel: 'short:ticker', fromOffset: 2, toOffset: 8, epochChanged: false }]);
    assert.deepEqual(got.map((p) => p.offset), [1, 9, 10, 11, 12, 13]);
  });

  test('a stream whose epoch changed reports a gap with epochChanged and delivers the new stream', T, async () => {
    const h = await hub();
    const subscriber = await client(h.base);
    const room = subscriber.channel<Msg>('chat:reset');
    const got = received(room);
    const gaps: GapEvent[] = [];
    room.on('gap', (g) => gaps.push(g));
    await room.subscribe();
    await subscriber.publish('chat:reset', { n: 1 });
    await until(() => got.length === 1, 2000, 'the first publication');
    // Resume from a position in an epoch the hub never had.
    await room.unsubscribe();
    await room.subscribe({ since: { epoch: 'gone-epoch', offset: 7 } });
    await until(() => gaps.length === 1, 2000, 'the gap');
    assert.equal(gaps[0]!.epochChanged, true);
    await until(() => got.length === 2, 2000, 'the replay of the new stream');
    assert.deepEqual(got.map((p) => p.offset), [1, 1]);
  });
});

describe('channels with presence data', () => {
  test('resubscribe with their own subscribe after a reconnect, recover, and are present again', T, async () => {
    const h = await hub();
    const member = await client(h.base);
    const watcher = await client(h.base);
    const room = member.channel<Msg>('chat:members');
    const got = received(room);
    await room.subscribe({ presenceData: { name: 'ada' } });
    await watcher.publish('chat:members', { n: 1 });
    const before = member.clientId;
    h.hub.disconnect({ clientId: before });
    await watcher.publish('chat:members', { n: 2 });
    await until(() => member.state === 'connected' && member.clientId !== before && room.state === 'subscribed', 5000, 'the resubscribe');
    await until(() => got.length === 2, 2000, 'both publications');
    assert.deepEqual(got.map((p) => p.data.n), [1, 2]);
    const { members } = await watcher.presence('chat:members');
    assert.deepEqual(members?.map((m) => [m.clientId, m.data]), [[member.clientId, { name: 'ada' }]]);
  });
});

describe('the outbox', () => {
  test('publishes made while disconnected are delivered exactly once after the reconnect, in order', T, async () => {
    const h = await hub();
    const publisher = await client(h.base, { reconnect: { minDelayMs: 400, maxDelayMs: 400 } });
    const watcher = await client(h.base);
    const room = watcher.channel<Msg>('chat:outbox');
    const got = received(room);
    await room.subscribe();
    const id = publisher.clientId;
    for (const socket of h.sockets) socket.destroy(); // both drop; the publisher waits 400 ms to return
    await until(() => publisher.state === 'connecting', 2000, 'the publisher to notice');
    const acks = Array.from({ length: 20 }, (_, i) => publisher.publish('chat:outbox', { n: i + 1 }));
    assert.equal(publisher.outboxSize, 20);
    const results = await Promise.all(acks);
    assert.notEqual(publisher.clientId, id);
    assert.deepEqual(results.map((r) => r.offset), Array.from({ length: 20 }, (_, i) => i + 1));
    await until(() => got.length === 20, 5000, 'delivery');
    assert.deepEqual(got.map((p) => p.data.n), Array.from({ length: 20 }, (_, i) => i + 1));
    const { publications } = await watcher.history<Msg>('chat:outbox');
    assert.deepEqual(publications.map((p) => p.data.n), Array.from({ length: 20 }, (_, i) => i + 1), 'each once in the history');
    assert.equal(publisher.outboxSize, 0);
  });
});

describe('reconnect advice', () => {
  test('waits at least reconnectAfterMs before coming back', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    const reconnecting = events<ReconnectingEvent>(c, 'reconnecting');
    const before = c.clientId;
    const t0 = Date.now();
    h.hub.session(before)!.disconnect(1001, 'server shutting down', 400);
    await until(() => c.state === 'connected' && c.clientId !== before, 5000, 'the reconnect');
    assert.ok(Date.now() - t0 >= 390, `came back after ${Date.now() - t0} ms`);
    assert.ok(reconnecting[0]!.delayMs >= 400);
  });

  test('4500 (invalid credentials) stops the client: no reconnect', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    const disconnected = events<DisconnectedEvent>(c, 'disconnected');
    h.hub.session(c.clientId)!.disconnect(4500, 'invalid token');
    await until(() => c.state === 'disconnected', 2000, 'the stop');
    await sleep(300);
    assert.equal(h.hub.sessionCount, 0, 'no new connection');
    assert.deepEqual(disconnected, [{ code: 4500, reason: 'invalid token', reconnect: false }]);
  });

  test('a kick with reconnect: false (4504) stops the client and fails its outbox', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    h.hub.disconnect({ clientId: c.clientId }, { reconnect: false });
    await until(() => c.state === 'disconnected', 2000, 'the stop');
    await assert.rejects(c.publish('chat:x', 1), (e: { code: string }) => e.code === 'VOLLEY_ERR_DISCONNECTED');
    assert.equal(c.outboxSize, 0);
  });

  test('rate_limited holds commands back and paces them: every publish succeeds, no 4001', T, async () => {
    const h = await hub({ rateLimits: { connection: { commandsPerSecond: 20, commandsBurst: 5 } } });
    const c = await client(h.base);
    const disconnected = events<DisconnectedEvent>(c, 'disconnected');
    let limited = 0;
    c.on('rate_limited', () => limited++);
    // connect took 1 of the 5 tokens: 4 publishes pass, 6 are refused (the hub disconnects after 10 refusals).
    const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => c.publish('chat:limited', { n: i + 1 })));
    assert.ok(limited >= 1, 'the hub said to slow down');
    assert.deepEqual(disconnected, []);
    assert.deepEqual(acks.map((a) => a.offset), Array.from({ length: 10 }, (_, i) => i + 1));
  });
});

describe('browser network events', () => {
  test('offline drops the connection at once; online skips the rest of the reconnect delay', T, async () => {
    const h = await hub();
    // Make this process look like a browser window for the duration of the test.
    const target = new EventTarget();
    const globals = {
      addEventListener: target.addEventListener.bind(target),
      removeEventListener: target.removeEventListener.bind(target),
      navigator: {},
      document: {},
    };
    const saved = Object.keys(globals).map((key) => [key, Object.getOwnPropertyDescriptor(globalThis, key)] as const);
    for (const [key, value] of Object.entries(globals)) Object.defineProperty(globalThis, key, { value, configurable: true, writable: true });
    try {
      const c = await client(h.base, { reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 } });
      const disconnected = events<DisconnectedEvent>(c, 'disconnected');
      const before = c.clientId;
      target.dispatchEvent(new Event('offline'));
      assert.equal(c.state, 'connecting');
      assert.deepEqual(disconnected, [{ code: 1006, reason: 'the browser went offline', reconnect: true }]);
      target.dispatchEvent(new Event('online'));
      await until(() => c.state === 'connected' && c.clientId !== before, 3000, 'the reconnect without the 60 s wait');
      c.disconnect();
      target.dispatchEvent(new Event('offline'));
      assert.equal(c.state, 'disconnected', 'listeners are gone after disconnect()');
    } finally {
      for (const [key, descriptor] of saved) {
        if (descriptor === undefined) delete (globalThis as Record<string, unknown>)[key];
        else Object.defineProperty(globalThis, key, descriptor);
      }
    }
  });
});

describe('backoff', () => {
  test('reconnect delays stay within the full-jitter bounds and grow to the cap', T, async () => {
    // A port where nothing listens: every attempt fails fast.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const clock = new ManualClock();
    const randoms = [0, 0.999, 0.5, 0.25, 0.999, 0.75, 0.999, 0.999, 0.1, 0.999];
    let r = 0;
    const c = track(new Volley(`http://127.0.0.1:${port}`, { WebSocket, transports: ['websocket'], clock, random: () => randoms[r++ % randoms.length]! }));
    const seen: ReconnectingEvent[] = [];
    c.on('reconnecting', (e) => seen.push(e));
    c.connect();
    for (let i = 0; i < randoms.length; i++) {
      await until(() => seen.length === i + 1, 3000, `reconnect attempt ${i + 1}`);
      clock.advance(seen[i]!.delayMs);
    }
    c.disconnect();
    for (const [i, e] of seen.entries()) {
      assert.equal(e.attempt, i + 1);
      const { min, max } = backoffBounds(i, DEFAULT_RECONNECT);
      assert.ok(e.delayMs >= min && e.delayMs <= max, `attempt ${i + 1}: ${e.delayMs} in [${min}, ${max}]`);
      assert.equal(e.delayMs, backoffDelay(i, DEFAULT_RECONNECT, () => randoms[i]!));
    }
    assert.equal(seen[0]!.delayMs, 250);
    assert.equal(seen.at(-1)!.delayMs, 15_000, 'capped');
  });
});
