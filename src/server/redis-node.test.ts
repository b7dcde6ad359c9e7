/**
 * The node-side seam of the Redis engines that needs no Redis: the broker that holds publications between a
 * Pub/Sub loss and the hub's resync (without it, a publication arriving right after the resubscription was
 * reported as a gap although history still had everything). Engine failures surfacing as `unavailable` are the
 * hub's (hub/engine-errors.test.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MemoryBroker, MemoryHistoryStore } from '../engines/index.js';
import { HubClient } from '../hub/testing/hub-client.js';
import { startHub, type StartedHub } from '../hub/testing/start-hub.js';
import { HoldingBroker } from './redis-node.js';

const T = { timeout: 10_000 };
const OPTIONS = { size: 100, ttlMs: 60_000 };
const hubs: StartedHub[] = [];
after(async () => {
  for (const h of hubs) await h.close();
});

/** A hub on a HoldingBroker over a memory broker, and a client subscribed to `feed` at offset 0. */
async function setup(): Promise<{ started: StartedHub; broker: HoldingBroker; inner: MemoryBroker; history: MemoryHistoryStore; client: HubClient }> {
  const inner = new MemoryBroker();
  const history = new MemoryHistoryStore();
  const broker = new HoldingBroker(inner, () => {});
  const started = await startHub({ broker, history, allowAnonymous: true, namespaces: { default: { subscribe: 'anyone', publish: 'anyone' } } });
  hubs.push(started);
  const client = await HubClient.open(started.url);
  await client.connect();
  assert.equal((await client.ok('subscribe', { channel: 'feed' })).offset, 0);
  return { started, broker, inner, history, client };
}

/** Appends `n` publications that never reach this node's broker (published while its Pub/Sub was down). */
async function missed(history: MemoryHistoryStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await history.append('feed', { data: `missed ${i + 1}`, time: Date.now() }, OPTIONS);
}

describe('HoldingBroker: publications between a Pub/Sub loss and the resync', () => {
  test('are held, so the resync replays the missed ones first and nothing is reported as a gap', T, async () => {
    const { started, broker, inner, history, client } = await setup();
    broker.hold();
    await missed(history, 3);
    const live = await history.append('feed', { data: 'live 4', time: Date.now() }, OPTIONS);
    await inner.publish('feed', live.publication, live.epoch);
    const resync = started.hub.resync(['feed']);
    broker.release();
    await resync;
    const pushes = [];
    for (let i = 0; i < 4; i++) pushes.push(await client.nextPush());
    assert.deepEqual(
      pushes.map((p) => [p.type, p.offset]),
      [
        ['publication', 1],
        ['publication', 2],
        ['publication', 3],
        ['publication', 4],
      ],
    );
    assert.deepEqual(client.queued(), []);
    await client.close();
  });

  test('without holding, the same publication shows a false gap (what broke before)', T, async () => {
    const { inner, history, client } = await setup();
    await missed(history, 3);
    const live = await history.append('feed', { data: 'live 4', time: Date.now() }, OPTIONS);
    await inner.publish('feed', live.publication, live.epoch);
    const first = await client.nextPush();
    assert.equal(first.type, 'gap');
    await client.close();
  });

  test('pass through untouched while not holding', T, async () => {
    const { inner, history, client } = await setup();
    const live = await history.append('feed', { data: 'x', time: Date.now() }, OPTIONS);
    await inner.publish('feed', live.publication, live.epoch);
    assert.equal((await client.nextPush()).offset, 1);
    await client.close();
  });
});
