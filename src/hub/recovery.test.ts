/**
 * Recovery across forced disconnects (reliability R1-R3): a subscriber that loses its socket while a publisher
 * keeps publishing comes back with its (epoch, offset) and gets every publication exactly once, in order —
 * through `subscribe {recover}` and through connect's `subscriptions`; when history no longer holds what it
 * missed it gets a typed `gap` before its reply; an epoch change is flagged; and SQLite history keeps epochs and
 * offsets across a hub restart.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { MemoryHistoryStore, SqliteHistoryStore } from '../engines/index.js';
import type { HistoryStore } from './engine.js';
import { HubClient, type HubMessage } from './testing/hub-client.js';
import { LaggyHistoryStore } from './testing/laggy-history.js';
import { hubScope } from './testing/hub-scope.js';
import type { StartedHub, StartHubOptions } from './testing/start-hub.js';

const NAMESPACES: StartHubOptions['namespaces'] = {
  default: { subscribe: 'anyone', publish: 'anyone', history: 'anyone' },
  namespaces: { feed: { historySize: 5000 }, small: { historySize: 10 } },
};

const scope = hubScope({ allowAnonymous: true, rateLimits: { connection: false }, namespaces: NAMESPACES });
const stores: HistoryStore[] = [];
const dirs: string[] = [];
scope.release(async () => {
  for (const store of stores) await store.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const hub = (options: StartHubOptions = {}): Promise<StartedHub> => scope.hub(options);

function open(started: StartedHub, encoding: 'json' | 'msgpack' = 'json'): Promise<HubClient> {
  return scope.open(started, { encoding });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves once `condition()` holds; rejects after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A subscribe or connect reply as the subscriber sees it, and what it replayed. */
interface Recovery {
  via: 'subscribe' | 'connect';
  recovered: boolean;
  replayed: number;
  publisherRunning: boolean;
}

/**
 * The subscriber of the seam test: it keeps only its position and the sequence numbers it got, processes
 * messages strictly in arrival order (a replayed publication in a reply counts where the reply arrived), and
 * can be cut off and come back any number of times.
 */
class Subscriber {
  readonly seqs: number[] = [];
  readonly offsets: number[] = [];
  readonly recoveries: Recovery[] = [];
  readonly stray: HubMessage[] = [];
  position: { epoch: string; offset: number } = { epoch: '', offset: 0 };
  client: HubClient | null = null;
  private awaitedId = -1;

  constructor(
    private readonly started: StartedHub,
    private readonly channel: string,
  ) {}

  private take(publication: HubMessage): void {
    this.offsets.push(publication['offset']);
    this.seqs.push(publication['data'].seq);
    this.position = { epoch: this.position.epoch, offset: publication['offset'] };
  }

  private attach(client: HubClient): void {
    this.client = client;
    client.onMessage = (message) => {
      if (message['type'] === 'publication' && message['channel'] === this.channel) return this.take(message);
      if (message['id'] === this.awaitedId && message['result'] !== undefined) {
        const result = message['result'].subscriptions?.[this.channel] ?? message['result'];
        if (result.publications === undefined) return; // a connect reply without subscriptions
        this.position = { epoch: result.epoch, offset: this.position.offset };
        for (const publication of result.publications) this.take(publication);
        return;
      }
      if (message['id'] === undefined) this.stray.push(message);
    };
  }

  /** First subscription: no recovery position yet. */
  async start(): Promise<void> {
    const client = await open(this.started, 'msgpack');
    this.attach(client);
    await client.connect();
    this.awaitedId = client.send('subscribe', { channel: this.channel });
    const reply = await client.reply(this.awaitedId);
    assert.equal(reply.error, undefined);
    this.position = { epoch: reply.result.epoch, offset: reply.result.offset };
  }

  /** The network fails: the socket is destroyed, whatever was in flight is lost. */
  cut(): void {
    this.client!.terminate();
    this.client!.onMessage = null;
  }

  /** Reconnects and recovers from the last position, through `subscribe` or connect's `subscriptions`. */
  async recover(via: 'subscribe' | 'connect', publisherRunning: boolean): Promise<void> {
    const client = await open(this.started, via === 'connect' ? 'json' : 'msgpack');
    this.attach(client);
    const before = this.seqs.length;
    const recover = { ...this.position };
    let result;
    if (via === 'connect') {
      this.awaitedId = client.send('connect', { subscriptions: { [this.channel]: { recover } } });
      const reply = await client.reply(this.awaitedId);
      result = reply.result.subscriptions[this.channel];
    } else {
      await client.connect();
      this.awaitedId = client.send('subscribe', { channel: this.channel, recover });
      result = (await client.reply(this.awaitedId)).result;
    }
    assert.equal(result.epoch, recover.epoch);
    this.recoveries.push({ via, recovered: result.recovered, replayed: this.seqs.length - before, publisherRunning });
  }
}

/** Publishes `total` messages `{seq}` over its own connection, keeping `window` publishes in flight. */
async function publishAll(started: StartedHub, channel: string, total: number, window: number): Promise<number> {
  const publisher = await open(started, 'json');
  await publisher.connect();
  const inFlight: Array<Promise<unknown>> = [];
  let last = 0;
  for (let seq = 0; seq < total; seq++) {
    inFlight.push(
      publisher.ok('publish', { channel, data: { seq, pad: 'x'.repeat(64) } }, 10_000).then((result) => {
        last = Math.max(last, result.offset);
      }),
    );
    if (inFlight.length >= window) await inFlight.shift();
  }
  await Promise.all(inFlight);
  await publisher.close();
  return last;
}

/** The seam scenario; returns the subscriber for further checks. */
async function seam(started: StartedHub, channel: string, total: number, cuts: number): Promise<Subscriber> {
  const subscriber = new Subscriber(started, channel);
  await subscriber.start();
  let publisherDone = false;
  const publishing = publishAll(started, channel, total, 8).finally(() => (publisherDone = true));
  for (let i = 0; i < cuts; i++) {
    // A random moment: a few ms into the stream, with the subscriber mid-way through what it was sent.
    await sleep(2 + Math.floor(Math.random() * 25));
    subscriber.cut();
    if (Math.random() < 0.5) await sleep(Math.floor(Math.random() * 10));
    await subscriber.recover(i % 3 === 1 ? 'connect' : 'subscribe', !publisherDone);
  }
  const lastOffset = await publishing;
  // One more cut after the publisher stopped: recovery from history alone.
  subscriber.cut();
  await subscriber.recover('subscribe', false);
  await until(() => subscriber.position.offset >= lastOffset, 10_000, `offset ${lastOffset}`);
  return subscriber;
}

function assertExactlyOnceInOrder(subscriber: Subscriber, total: number): void {
  const missing = [];
  const seen = new Set(subscriber.seqs);
  for (let seq = 0; seq < total && missing.length < 5; seq++) if (!seen.has(seq)) missing.push(seq);
  assert.deepEqual(missing, [], 'zero loss');
  assert.equal(subscriber.seqs.length, total, 'zero duplicates');
  assert.deepEqual(subscriber.seqs, Array.from({ length: total }, (_, seq) => seq), 'in publish order');
  assert.deepEqual(subscriber.offsets, Array.from({ length: total }, (_, i) => i + 1), 'gapless offsets');
  assert.deepEqual(subscriber.stray.filter((m) => m['type'] === 'gap'), [], 'no gap push');
}

describe('recovery across forced disconnects under concurrent publishing', () => {
  test('a subscriber cut off several times while 2000 messages are published sees each exactly once, in order, recovered each time', { timeout: 30_000 }, async () => {
    const started = await hub();
    const subscriber = await seam(started, 'feed:seam', 2000, 8);
    assertExactlyOnceInOrder(subscriber, 2000);
    assert.ok(subscriber.recoveries.every((r) => r.recovered), JSON.stringify(subscriber.recoveries));
    assert.ok(subscriber.recoveries.some((r) => r.via === 'connect'));
    const concurrent = subscriber.recoveries.filter((r) => r.publisherRunning).length;
    assert.ok(concurrent >= 3, `at least 3 recoveries while the publisher ran (got ${concurrent})`);
    assert.ok(subscriber.recoveries.some((r) => r.replayed > 0), 'some recovery replayed publications');
  });

  test('the same holds when history answers with a delay, so publications arrive while a recovery reads history', { timeout: 30_000 }, async () => {
    const history = new LaggyHistoryStore(new MemoryHistoryStore(), { maxDelayMs: 3 });
    stores.push(history);
    const started = await hub({ history });
    const subscriber = await seam(started, 'feed:laggy', 1000, 8);
    assertExactlyOnceInOrder(subscriber, 1000);
    assert.ok(subscriber.recoveries.every((r) => r.recovered), JSON.stringify(subscriber.recoveries));
  });
});

describe('gaps', () => {
  test('history of 10 with 50 published while away: a gap with the exact range arrives before the reply, then the 10 kept', { timeout: 5000 }, async () => {
    const started = await hub();
    const ch = 'small:gap';
    const first = await open(started);
    await first.connect();
    const { epoch, offset } = await first.ok('subscribe', { channel: ch });
    assert.equal(offset, 0);
    first.terminate();
    for (let i = 1; i <= 50; i++) await started.hub.publish(ch, { i });

    const client = await open(started, 'msgpack');
    await client.connect();
    const id = client.send('subscribe', { channel: ch, recover: { epoch, offset } });
    const reply = await client.reply(id);
    const gapIndex = client.log.findIndex((m) => m['type'] === 'gap');
    const replyIndex = client.log.findIndex((m) => m['id'] === id);
    assert.ok(gapIndex >= 0 && gapIndex < replyIndex, 'the gap push comes before the subscribe reply');
    assert.deepEqual(client.log[gapIndex], { type: 'gap', channel: ch, fromOffset: 1, toOffset: 40, epochChanged: false });
    assert.equal(reply.result.recovered, false);
    assert.equal(reply.result.epoch, epoch);
    assert.equal(reply.result.offset, 50);
    assert.deepEqual(
      reply.result.publications.map((p: HubMessage) => [p['offset'], p['data'].i]),
      Array.from({ length: 10 }, (_, k) => [41 + k, 41 + k]),
    );
    // Live publications continue from there.
    await started.hub.publish(ch, { i: 51 });
    assert.equal((await client.nextPush((p) => p['type'] === 'publication'))['offset'], 51);
  });

  test('the same gap through connect subscriptions is pushed before the connect reply', { timeout: 5000 }, async () => {
    const started = await hub();
    const ch = 'small:gap-connect';
    const { epoch } = await started.hub.publish(ch, { i: 1 });
    for (let i = 2; i <= 30; i++) await started.hub.publish(ch, { i });
    const client = await open(started);
    const id = client.send('connect', { subscriptions: { [ch]: { recover: { epoch, offset: 1 } } } });
    const reply = await client.reply(id);
    assert.deepEqual(client.log[0], { type: 'gap', channel: ch, fromOffset: 2, toOffset: 20, epochChanged: false });
    const sub = reply.result.subscriptions[ch];
    assert.equal(sub.recovered, false);
    assert.deepEqual(sub.publications.map((p: HubMessage) => p['offset']), Array.from({ length: 10 }, (_, k) => 21 + k));
  });

  test('an epoch change while away is reported as a gap with epochChanged, and the new epoch is replayed', { timeout: 5000 }, async () => {
    const started = await hub();
    const ch = 'small:epoch';
    const first = await open(started);
    await first.connect();
    const { epoch } = await first.ok('subscribe', { channel: ch });
    for (let i = 1; i <= 3; i++) await started.hub.publish(ch, { i });
    await until(() => first.queued((p) => p['type'] === 'publication').length === 3, 2000, 'three publications');
    first.terminate();
    await started.history.remove(ch);
    const renewed = await started.hub.publish(ch, { i: 'new-1' });
    await started.hub.publish(ch, { i: 'new-2' });
    assert.notEqual(renewed.epoch, epoch);
    assert.equal(renewed.offset, 1);

    const client = await open(started);
    await client.connect();
    const id = client.send('subscribe', { channel: ch, recover: { epoch, offset: 3 } });
    const reply = await client.reply(id);
    const gap = client.log.find((m) => m['type'] === 'gap');
    assert.ok(gap !== undefined && client.log.indexOf(gap) < client.log.findIndex((m) => m['id'] === id), 'gap before the reply');
    assert.equal(gap['channel'], ch);
    assert.equal(gap['epochChanged'], true);
    assert.equal(reply.result.recovered, false);
    assert.equal(reply.result.epoch, renewed.epoch);
    assert.deepEqual(reply.result.publications.map((p: HubMessage) => p['data'].i), ['new-1', 'new-2']);
  });

  test('a live subscriber whose stream restarts gets a gap with epochChanged before the first publication of the new epoch', { timeout: 5000 }, async () => {
    const started = await hub();
    const ch = 'small:live-epoch';
    const client = await open(started);
    await client.connect();
    await client.ok('subscribe', { channel: ch });
    await started.hub.publish(ch, 'old');
    await client.nextPush((p) => p['type'] === 'publication');
    await started.history.remove(ch);
    await started.hub.publish(ch, 'new');
    const gap = await client.nextPush();
    assert.equal(gap['type'], 'gap');
    assert.equal(gap['epochChanged'], true);
    const publication = await client.nextPush();
    assert.equal(publication['type'], 'publication');
    assert.equal(publication['offset'], 1);
    assert.equal(publication['data'], 'new');
  });

  test('a position from the future or from an unknown epoch is never reported as recovered', { timeout: 5000 }, async () => {
    const started = await hub();
    const ch = 'feed:positions';
    const { epoch } = await started.hub.publish(ch, 1);
    await started.hub.publish(ch, 2);
    for (const recover of [{ epoch, offset: 99 }, { epoch: 'not-an-epoch', offset: 1 }, { epoch: '', offset: 0 }]) {
      const client = await open(started);
      await client.connect();
      const id = client.send('subscribe', { channel: ch, recover });
      const reply = await client.reply(id);
      assert.equal(reply.result.recovered, false, JSON.stringify(recover));
      assert.equal(reply.result.epoch, epoch);
      assert.ok(client.log.some((m) => m['type'] === 'gap' && m['epochChanged'] === true), JSON.stringify(recover));
    }
  });

  test('a subscriber that is up to date recovers with nothing to replay and no gap', { timeout: 5000 }, async () => {
    const started = await hub();
    const ch = 'small:current';
    let position = { epoch: '', offset: 0 };
    for (let i = 1; i <= 15; i++) position = await started.hub.publish(ch, i);
    const client = await open(started);
    await client.connect();
    const reply = await client.ok('subscribe', { channel: ch, recover: position });
    assert.deepEqual(reply, { epoch: position.epoch, offset: 15, recovered: true, publications: [] });
    assert.deepEqual(client.queued(), []);
  });
});

describe('durable history', () => {
  test('recovery with SQLite history survives a hub restart: same epoch, offsets continue, nothing replayed twice', { timeout: 10_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'volley-recovery-'));
    dirs.push(dir);
    const path = join(dir, 'history.db');
    const ch = 'feed:durable';

    const firstStore = new SqliteHistoryStore({ path });
    const first = await hub({ history: firstStore });
    const subscriber = await open(first);
    await subscriber.connect();
    const { epoch } = await subscriber.ok('subscribe', { channel: ch });
    for (let i = 1; i <= 5; i++) await first.hub.publish(ch, { i });
    await until(() => subscriber.queued((p) => p['type'] === 'publication').length === 5, 2000, 'five publications');
    first.hub.shutdown({ reconnectWindowMs: 1 });
    await subscriber.waitClosed();
    await first.close();
    await firstStore.close();

    const secondStore = new SqliteHistoryStore({ path });
    stores.push(secondStore);
    const second = await hub({ history: secondStore });
    const results = [];
    for (let i = 6; i <= 8; i++) results.push(await second.hub.publish(ch, { i }));
    assert.deepEqual(results, [6, 7, 8].map((offset) => ({ epoch, offset })));

    const back = await open(second, 'msgpack');
    await back.connect();
    const reply = await back.ok('subscribe', { channel: ch, recover: { epoch, offset: 5 } });
    assert.equal(reply.recovered, true);
    assert.equal(reply.epoch, epoch);
    assert.deepEqual(reply.publications.map((p: HubMessage) => p['data'].i), [6, 7, 8]);
    assert.deepEqual(back.queued(), []);

    const fresh = await open(second);
    const connected = await fresh.connect(undefined, { subscriptions: { [ch]: { recover: { epoch, offset: 0 } } } });
    assert.equal(connected.subscriptions[ch].recovered, true);
    assert.deepEqual(connected.subscriptions[ch].publications.map((p: HubMessage) => p['offset']), [1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
