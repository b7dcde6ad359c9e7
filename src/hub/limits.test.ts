/**
 * Limits over real sockets: rate limits per connection (reliability L3: notify with `rate_limited`, then
 * disconnect 4001, bystanders unaffected), the slow-consumer policies (B1: a subscriber that stops reading is
 * closed with 4000, or its messages are dropped and counted, while healthy subscribers get everything),
 * subscriptions per connection and per channel, pending commands, connections per IP and message size.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { HubMetrics } from './metrics.js';
import { errorCode, HubClient, type HubMessage } from './testing/hub-client.js';
import { hubScope } from './testing/hub-scope.js';
import type { StartedHub, StartHubOptions } from './testing/start-hub.js';

const OPEN_NAMESPACES: StartHubOptions['namespaces'] = {
  default: { subscribe: 'anyone', publish: 'anyone' },
  namespaces: { tiny: { maxSubscribers: 2 }, one: { maxSubscribers: 1 }, hot: { historySize: 1000 } },
};

const scope = hubScope({ allowAnonymous: true, namespaces: OPEN_NAMESPACES });
const T = { timeout: 10_000 };
const hub = (options: StartHubOptions = {}): Promise<StartedHub> => scope.hub(options);

async function connected(started: StartedHub, encoding: 'json' | 'msgpack' = 'json'): Promise<HubClient> {
  const client = await scope.open(started, { encoding });
  await client.connect();
  return client;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Metrics that count every call by name and first argument (`slowConsumer:drop`, `rateLimited:connection`…). */
function countingMetrics(): HubMetrics & { counts: Map<string, number>; count(key: string): number } {
  const counts = new Map<string, number>();
  const bump = (name: string) => (label?: unknown) => {
    const key = typeof label === 'string' ? `${name}:${label}` : name;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  return {
    counts,
    count: (key) => counts.get(key) ?? 0,
    connectionOpened: bump('connectionOpened'),
    connectionClosed: bump('connectionClosed'),
    subscriptionAdded: bump('subscriptionAdded'),
    subscriptionRemoved: bump('subscriptionRemoved'),
    commandReceived: bump('commandReceived'),
    published: bump('published'),
    delivered: bump('delivered'),
    recovery: bump('recovery'),
    gap: bump('gap'),
    rateLimited: bump('rateLimited'),
    slowConsumer: bump('slowConsumer'),
  };
}

describe('rate limits', () => {
  const limited = { rateLimits: { connection: { commandsPerSecond: 5, commandsBurst: 5 } } };

  test('commands beyond a burst of 5 get a rate_limited push with retryAfterMs and a rate_limited error reply', T, async () => {
    const started = await hub(limited);
    const client = await connected(started); // 1 command of the burst
    // Sent at once, so that the bucket barely refills meanwhile (the connect round trip may have refilled one).
    const replies = await Promise.all(Array.from({ length: 6 }, () => client.call('ping')));
    const allowed = replies.filter((reply) => reply.error === undefined).length;
    assert.ok(allowed === 4 || allowed === 5, `the burst allows 4 or 5 more (got ${allowed})`);
    assert.ok(replies.slice(0, allowed).every((reply) => reply.error === undefined), 'the first ones are allowed');
    const refused = replies.slice(allowed);
    assert.ok(refused.length >= 1);
    for (const reply of refused) {
      assert.equal(reply.error?.code, 'rate_limited');
      assert.ok(reply.error!.retryAfterMs! > 0 && reply.error!.retryAfterMs! <= 200, `retryAfterMs ${reply.error!.retryAfterMs}`);
    }
    const pushIndex = client.log.findIndex((m) => m['type'] === 'rate_limited');
    assert.ok(pushIndex >= 0 && pushIndex < client.log.indexOf(refused[0] as HubMessage), 'the push comes before the error reply');
    const push = client.log[pushIndex]!;
    assert.ok(push['retryAfterMs'] > 0 && push['retryAfterMs'] <= 200);
    // After waiting as told, commands go through again.
    await sleep(refused[0]!.error!.retryAfterMs! + 20);
    assert.deepEqual(await client.ok('ping'), {});
    assert.equal(client.closeCode, null);
  });

  test('a client that keeps sending over the limit is disconnected with 4001 and reconnect advice; other clients are unaffected', T, async () => {
    const metrics = countingMetrics();
    const started = await hub({ ...limited, metrics });
    const bystander = await connected(started, 'msgpack');
    const flooder = await connected(started);
    for (let i = 0; i < 40; i++) flooder.send('ping');
    const push = await flooder.nextPush((p) => p['type'] === 'disconnect');
    assert.equal(push['code'], 4001);
    assert.equal(push['reconnect'], true);
    assert.ok(push['reconnectAfterMs'] >= 1000 && push['reconnectAfterMs'] <= 60_000, `reconnectAfterMs ${push['reconnectAfterMs']}`);
    assert.equal((await flooder.waitClosed()).code, 4001);
    const denied = flooder.log.filter((m) => m['error']?.code === 'rate_limited').length;
    assert.ok(denied >= 10 && denied <= 11, `about 10 denials before the disconnect (got ${denied})`);
    assert.ok(metrics.count('rateLimited:connection') >= 11);
    // The bystander on the same IP still has its whole budget.
    for (let i = 0; i < 4; i++) assert.deepEqual(await bystander.ok('ping'), {});
  });

  test('after one refusal every command is refused until retryAfterMs, so a later publish never overtakes a refused one', T, async () => {
    const started = await hub({ ...limited, namespaces: { default: { subscribe: 'anyone', publish: 'anyone' } } });
    const client = await connected(started);
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => client.call('publish', { channel: 'feed:a', data: i })));
    const accepted = replies.map((r) => r.error === undefined);
    const firstRefused = accepted.indexOf(false);
    assert.ok(firstRefused > 0, 'some were accepted, then some refused');
    assert.ok(accepted.slice(firstRefused).every((ok) => !ok), `no publish accepted after a refused one: ${accepted.join(',')}`);
  });

  test(
    'rate_limited is pushed once when a client first goes over the limit, not again for every refused command',
    T,
    async () => {
      const started = await hub(limited);
      const client = await connected(started);
      for (let i = 0; i < 8; i++) client.send('ping');
      await client.ok('ping').catch(() => undefined);
      await sleep(50);
      const pushes = client.log.filter((m) => m['type'] === 'rate_limited').length;
      const refusals = client.log.filter((m) => m['error']?.code === 'rate_limited').length;
      assert.ok(refusals >= 3);
      assert.equal(pushes, 1);
    },
  );
});

/**
 * Publishes 1 KiB messages from the server, 8 per event-loop turn (so healthy subscribers drain between
 * turns), until `done()` or `max`; returns how many were published.
 */
async function publishUntil(started: StartedHub, channel: string, done: () => boolean, max: number): Promise<number> {
  const pad = 'x'.repeat(1000);
  let published = 0;
  while (published < max && !done()) {
    const batch = [];
    for (let i = 0; i < 8; i++) batch.push(started.hub.publish(channel, { seq: ++published, pad }));
    await Promise.all(batch);
    await turn();
  }
  return published;
}

/** Waits until `client` has received publications up to `offset` in `channel`. */
async function receivedUpTo(client: HubClient, channel: string, offset: number, timeoutMs = 5000): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const offsets = client.queued((p) => p['type'] === 'publication' && p['channel'] === channel).map((p) => p['offset'] as number);
    if (offsets.at(-1) === offset || performance.now() > deadline) return offsets;
    await sleep(10);
  }
}

describe('slow consumers', () => {
  test('with policy disconnect, a subscriber that stops reading is closed with 4000 "slow" while the others get every publication', { timeout: 20_000 }, async () => {
    const metrics = countingMetrics();
    const started = await hub({ metrics, limits: { slowConsumerPolicy: 'disconnect' }, transport: { maxQueueBytes: 64 * 1024 } });
    const ch = 'hot:disconnect';
    const slow = await connected(started);
    const healthy = [await connected(started), await connected(started, 'msgpack')];
    const { epoch } = await slow.ok('subscribe', { channel: ch });
    for (const client of healthy) await client.ok('subscribe', { channel: ch });
    slow.pause();
    const closedOnServer = new Promise<number>((resolve) => started.hub.once('disconnect', (_session, code: number) => resolve(code)));

    let published = await publishUntil(started, ch, () => metrics.count('slowConsumer:disconnect') > 0, 40_000);
    assert.equal(metrics.count('slowConsumer:disconnect'), 1, `the slow subscriber was cut off after ${published} publications`);
    assert.equal(await closedOnServer, 4000);
    published += await publishUntil(started, ch, () => false, 50);

    for (const client of healthy) {
      const offsets = await receivedUpTo(client, ch, published);
      assert.equal(offsets.length, published, 'a healthy subscriber lost nothing');
      assert.ok(offsets.every((offset, i) => offset === i + 1), 'in order');
      assert.equal(client.closeCode, null);
    }
    slow.resume();
    assert.deepEqual(await slow.waitClosed(5000), { code: 4000, reason: 'slow' });

    // Its loss is never silent: recovering from the last offset it got replays or flags everything after it.
    const got = slow.queued((p) => p['type'] === 'publication').map((p) => p['offset'] as number);
    assert.ok(got.every((offset, i) => offset === i + 1), 'what it got before the cut is in order');
    const back = await connected(started);
    const id = back.send('subscribe', { channel: ch, recover: { epoch, offset: got.length } });
    const reply = await back.reply(id);
    const gap = back.log.find((m) => m['type'] === 'gap');
    const replayed = reply.result.publications.map((p: HubMessage) => p['offset'] as number);
    const covered = [...got, ...(gap === undefined ? [] : range(gap['fromOffset'], gap['toOffset'])), ...replayed];
    assert.deepEqual(covered, range(1, published), 'received + gap + replayed = every offset, once');
    assert.equal(reply.result.recovered, gap === undefined);
  });

  test('with policy drop, a subscriber that stops reading stays connected, its messages are dropped and counted, and the others get everything', { timeout: 20_000 }, async () => {
    const metrics = countingMetrics();
    const started = await hub({ metrics, limits: { slowConsumerPolicy: 'drop' }, transport: { maxQueueBytes: 64 * 1024 } });
    const ch = 'hot:drop';
    const slow = await connected(started, 'msgpack');
    const healthy = await connected(started);
    await slow.ok('subscribe', { channel: ch });
    await healthy.ok('subscribe', { channel: ch });
    slow.pause();

    let published = await publishUntil(started, ch, () => metrics.count('slowConsumer:drop') >= 100, 40_000);
    assert.ok(metrics.count('slowConsumer:drop') >= 100, `publications to the slow subscriber were dropped (after ${published})`);
    assert.equal(metrics.count('slowConsumer:disconnect'), 0);
    assert.equal(started.hub.sessionCount, 2, 'the slow subscriber is still connected');
    assert.deepEqual(await receivedUpTo(healthy, ch, published), range(1, published), 'the healthy subscriber lost nothing');

    // Reading again, it drains its queue and then gets new publications.
    slow.resume();
    await receivedUpTo(slow, ch, published - metrics.count('slowConsumer:drop'));
    await sleep(50);
    published += await publishUntil(started, ch, () => false, 8);
    const got = await receivedUpTo(slow, ch, published);
    assert.equal(got.at(-1), published);
    assert.ok(got.every((offset, i) => i === 0 || offset > got[i - 1]!), 'what it got is in order, without duplicates');
    assert.equal(got.length + metrics.count('slowConsumer:drop'), published, 'every publication was either delivered or counted as dropped');
    assert.deepEqual(await slow.ok('ping'), {});
    assert.equal(slow.closeCode, null);
  });

  test(
    'with policy drop, a command from a subscriber whose queue is still full gets its reply instead of a disconnect',
    { timeout: 20_000 },
    async () => {
      const metrics = countingMetrics();
      const started = await hub({ metrics, limits: { slowConsumerPolicy: 'drop' }, transport: { maxQueueBytes: 64 * 1024 } });
      const ch = 'hot:drop-command';
      const slow = await connected(started);
      await slow.ok('subscribe', { channel: ch });
      slow.pause();
      await publishUntil(started, ch, () => metrics.count('slowConsumer:drop') >= 10, 40_000);
      slow.resume();
      // Its queue is still over maxQueueBytes when the ping arrives: the reply must not end the connection.
      const reply = await Promise.race([slow.call('ping', {}, 5000), slow.closed]);
      assert.equal(metrics.count('slowConsumer:disconnect'), 0);
      assert.equal(slow.closeCode, null);
      assert.deepEqual(reply, { id: 3, result: {} });
    },
  );
});

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

describe('subscription limits', () => {
  test('maxSubscriptionsPerConnection refuses one more subscription with limit_exceeded, in subscribe and in connect', T, async () => {
    const started = await hub({ limits: { maxSubscriptionsPerConnection: 3 } });
    const client = await connected(started);
    for (const ch of ['a', 'b', 'c']) await client.ok('subscribe', { channel: ch });
    assert.equal(await errorCode(client.ok('subscribe', { channel: 'd' })), 'limit_exceeded');
    await client.ok('unsubscribe', { channel: 'a' });
    await client.ok('subscribe', { channel: 'd' });

    const other = await scope.open(started);
    const result = await other.connect(undefined, { subscriptions: { a: {}, b: {}, c: {}, d: {}, e: {} } });
    assert.deepEqual(
      Object.entries(result.subscriptions).map(([ch, sub]) => [ch, (sub as HubMessage)['error']?.code ?? 'ok']),
      [['a', 'ok'], ['b', 'ok'], ['c', 'ok'], ['d', 'limit_exceeded'], ['e', 'limit_exceeded']],
    );
  });

  test('a namespace maxSubscribers refuses one more subscriber with limit_exceeded until one leaves', T, async () => {
    const started = await hub();
    const [a, b, c] = [await connected(started), await connected(started), await connected(started)];
    await a.ok('subscribe', { channel: 'tiny:room' });
    await b.ok('subscribe', { channel: 'tiny:room' });
    assert.equal(await errorCode(c.ok('subscribe', { channel: 'tiny:room' })), 'limit_exceeded');
    await c.ok('subscribe', { channel: 'tiny:other' });
    await b.close();
    await sleep(20);
    await c.ok('subscribe', { channel: 'tiny:room' });
  });

  test(
    'maxSubscribers holds when three clients subscribe at once and an async onSubscribe hook is deciding',
    T,
    async () => {
      const started = await hub({ hooks: { onSubscribe: () => sleep(30) } });
      const [a, b, c] = [await connected(started), await connected(started), await connected(started)];
      const replies = await Promise.all([a, b, c].map((client) => client.call('subscribe', { channel: 'one:seat' })));
      assert.deepEqual(replies.map((r) => r.error?.code ?? 'ok').sort(), ['limit_exceeded', 'limit_exceeded', 'ok']);
      assert.equal(started.hub.localSubscribers('one:seat'), 1);
    },
  );
});

describe('connection and message limits', () => {
  test('a message over the transport’s maxMessageSize closes the connection with 1009 and the session ends', T, async () => {
    const started = await hub({ transport: { maxMessageSize: 1024 } });
    const bystander = await connected(started);
    const client = await connected(started);
    assert.equal(started.hub.sessionCount, 2);
    await client.ok('publish', { channel: 'lobby', data: 'x'.repeat(900) });
    client.send('publish', { channel: 'lobby', data: 'x'.repeat(2000) });
    assert.equal((await client.waitClosed()).code, 1009);
    await sleep(20);
    assert.equal(started.hub.sessionCount, 1);
    assert.deepEqual(await bystander.ok('ping'), {});
  });

  test('more commands waiting for their replies than the session allows ends it with 4501', T, async (t) => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started = await hub({ rateLimits: { connection: false }, hooks: { onRpc: () => gate } });
    t.after(() => release());
    const client = await connected(started);
    for (let i = 0; i < 300; i++) client.send('rpc', { method: 'wait' });
    const push = await client.nextPush((p) => p['type'] === 'disconnect');
    assert.equal(push['code'], 4501);
    assert.equal((await client.waitClosed()).code, 4501);
    release();
  });

  test('maxConnectionsPerIp refuses one more WebSocket with 429 before the upgrade', T, async () => {
    const started = await hub({ transport: { maxConnectionsPerIp: 2 } });
    await connected(started);
    await connected(started);
    await assert.rejects(HubClient.open(started.url), /closed before it opened: .*429/);
    assert.equal(started.hub.sessionCount, 2);
  });
});
