/**
 * The Redis engines on a real Redis Cluster of three masters that this file starts (testing/private-redis.ts):
 * the history, presence and broker contracts with sharded Pub/Sub (the default on a cluster), their channels
 * spread over every master; then what only a cluster can break — sharded (un)subscribes of many slots at once,
 * channel names that are no hash tag, losing the per-shard Pub/Sub connections — and two hubs on the cluster:
 * order across nodes, recovery, idempotency with and without history, shared rate limits and presence.
 *
 * Needs only `redis-server` and `redis-cli` (not the shared Redis): skipped with one line without them, except
 * with CI=true, where that fails.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Publication } from '../../hub/engine.js';
import { registerOrSkip } from '../../test-support/requirements.js';
import { Recorder } from '../contract/broker-contract.js';
import { range, uniqueChannel, waitFor } from '../contract/support.js';
import { type PubSubOutage, RedisBroker, RedisEngine, RedisHistoryStore } from './index.js';
import { hashSlot } from './keys.js';
import { type PrivateCluster, command, infoFields, redisBinariesMissing, redisBinariesOrSkip, startCluster } from './testing/private-redis.js';
import { lazyDeployment, redisEngineContracts } from './testing/engine-contracts.js';
import { QUIET, deleteKeys, randomPrefix } from './testing/support.js';
import {
  type TwoHubs,
  checkIdempotency,
  checkNoLossAcrossPubSubOutage,
  checkOrder,
  checkPresence,
  checkRecovery,
  checkSharedRateLimits,
  startTwoHubs,
} from './testing/two-hubs.js';

/** This file's deployment, started on first use, and one command connection to it shared by the contracts. */
const { deployment: cluster, clients: sharedClients } = lazyDeployment(startCluster);

const T = { timeout: 30_000 };
const pub = (offset: number, data: unknown = `m${offset}`): Publication => ({ offset, data, time: 1_700_000_000_000 + offset });

/** `perMaster` channel names (`<base>-<i>`) on each master (by their Pub/Sub name under `prefix`), interleaved. */
async function spread(c: PrivateCluster, prefix: string, base: string, perMaster: number): Promise<string[]> {
  const owners = (await command(c.nodes[0]!.port, ['CLUSTER', 'SLOTS'])) as Array<[number, number, [string, number]]>;
  const ownerOf = (slot: number) => owners.find(([from, to]) => slot >= from && slot <= to)![2][1];
  const byMaster = new Map<number, string[]>(c.nodes.map((n) => [n.port, []]));
  for (let i = 0; [...byMaster.values()].some((list) => list.length < perMaster); i++) {
    const channel = `${base}-${i}`;
    const list = byMaster.get(ownerOf(hashSlot(`${prefix}{${channel}}`)))!;
    if (list.length < perMaster) list.push(channel);
  }
  const lists = [...byMaster.values()];
  return range(0, perMaster - 1).flatMap((i) => lists.map((list) => list[i]!));
}

/** Shard channels of `prefix` with a subscriber, on each master. */
async function shardChannels(c: PrivateCluster, prefix: string): Promise<number[]> {
  return Promise.all(c.nodes.map(async (n) => ((await command(n.port, ['PUBSUB', 'SHARDCHANNELS', `${prefix}*`])) as string[]).length));
}

/** `INFO commandstats` calls of `name` on each master. */
async function calls(c: PrivateCluster, name: string): Promise<number[]> {
  return Promise.all(c.nodes.map(async (n) => Number(/calls=(\d+)/.exec(infoFields(await command(n.port, ['INFO', 'commandstats'])).get(`cmdstat_${name}`) ?? '')?.[1] ?? 0)));
}

registerOrSkip('engine contracts on a Redis Cluster', redisBinariesMissing(), () =>
  redisEngineContracts('on a Redis Cluster', sharedClients, async () => (await cluster()).url),
);

describe('the Redis engines on a Redis Cluster of three masters', () => {
  test('the contract suites ran scripts, SSUBSCRIBE and SPUBLISH on every master', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const c = await cluster();
    for (const name of ['evalsha', 'ssubscribe', 'spublish']) {
      const counts = await calls(c, name);
      t.diagnostic(`${name} per master: ${counts.join(', ')}`);
      assert.ok(counts.every((n) => n > 0), `${name} on every master: ${counts.join(', ')}`);
    }
  });

  test('hashSlot agrees with CLUSTER KEYSLOT', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const c = await cluster();
    const names = ['', 'a', 'volley:{chat:1}', 'volley:{chat:1}:m', 'x{}y', '{}{b}', 'a{b}c{d}', '{', '}{a}', 'ünïcødé', 'volley:{€}', 'k'.repeat(300)];
    for (const name of [...names, ...range(1, 200).map((i) => `volley:{ch-${i}}`)]) {
      assert.equal(hashSlot(name), Number(await command(c.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', name])), name);
    }
  });

  test('subscribes and unsubscribes 300 channels of every master in one tick (regression: one SSUBSCRIBE across slots failed with CROSSSLOT)', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const c = await cluster();
    const prefix = randomPrefix();
    const [node, publisher] = [0, 1].map(() => new RedisBroker({ url: c.url, prefix, connection: QUIET }));
    try {
      const recorder = new Recorder();
      node!.setHandler(recorder);
      const channels = await spread(c, prefix, uniqueChannel('wide'), 100);
      await Promise.all(channels.map((channel) => node!.subscribe(channel)));
      assert.deepEqual(await shardChannels(c, prefix), [100, 100, 100]);
      await Promise.all(channels.map((channel, i) => publisher!.publish(channel, pub(i + 1), 'e')));
      await waitFor(() => recorder.deliveries.length === 300, '300 deliveries');
      assert.deepEqual(channels.map((ch) => recorder.offsets(ch)), range(1, 300).map((i) => [i]));
      await Promise.all(channels.map((channel) => node!.unsubscribe(channel)));
      assert.deepEqual(await shardChannels(c, prefix), [0, 0, 0]);
    } finally {
      await Promise.all([node!.close(), publisher!.close()]);
    }
  });

  test('delivers a burst of 500 publishes from a new connection in order (regression: lazily connected masters sent part of it round a MOVED, late)', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const c = await cluster();
    const prefix = randomPrefix();
    const node = new RedisBroker({ url: c.url, prefix, connection: QUIET });
    try {
      const recorder = new Recorder();
      node.setHandler(recorder);
      const channels = await spread(c, prefix, uniqueChannel('burst'), 1);
      for (const channel of channels) await node.subscribe(channel);
      for (const channel of channels) {
        const publisher = new RedisBroker({ url: c.url, prefix, connection: QUIET });
        try {
          await Promise.all(range(1, 500).map((i) => publisher.publish(channel, pub(i), 'e')));
        } finally {
          await publisher.close();
        }
      }
      await waitFor(() => recorder.deliveries.length === 1_500, '1500 deliveries');
      assert.deepEqual(channels.map((ch) => recorder.offsets(ch)), channels.map(() => range(1, 500)));
    } finally {
      await node.close();
    }
  });

  test("keeps every key of a channel in one slot when its name is no hash tag ('' or with '}') (regression: CROSSSLOT)", T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const c = await cluster();
    const engine = new RedisEngine({ url: c.url, prefix: randomPrefix(), connection: QUIET });
    try {
      const recorder = new Recorder();
      engine.broker.setHandler(recorder);
      const odd = ['', '}', '}x{', 'a}b', '{a}', '{}'];
      for (const channel of odd) {
        await engine.broker.subscribe(channel);
        const appended = await engine.history.append(channel, { data: channel, time: 1 }, { size: 10, ttlMs: 60_000, idempotencyKey: 'k' });
        assert.equal(appended.publication.offset, 1, JSON.stringify(channel));
        assert.deepEqual((await engine.history.read(channel, {})).publications.map((p) => p.data), [channel]);
        await engine.presence.add(channel, { clientId: 'c', userId: 'u' }, 60_000);
        assert.deepEqual(await engine.presence.stats(channel), { clients: 1, users: 1 });
        assert.equal(await engine.idempotency.publishOnce(channel, pub(0, 'once'), { idempotencyKey: 'k', windowMs: 60_000 }), true);
        await engine.history.remove(channel);
      }
      await waitFor(() => recorder.deliveries.length === odd.length * 2, 'the appended and the once-published publication of every channel');
      assert.deepEqual(odd.map((ch) => recorder.on(ch).length), odd.map(() => 2));
    } finally {
      await engine.close();
    }
  });

  test('after CLIENT KILL TYPE pubsub on every master, reports the outage, resubscribes every channel and delivers again', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const c = await cluster();
    const prefix = randomPrefix();
    const outages: Array<{ channels: readonly string[]; outage: PubSubOutage; at: number }> = [];
    let disconnects = 0;
    const node = new RedisBroker({
      url: c.url,
      prefix,
      connection: QUIET,
      onDisconnect: () => disconnects++,
      onResubscribe: (channels, outage) => outages.push({ channels, outage, at: Date.now() }),
    });
    const history = new RedisHistoryStore({ url: c.url, prefix, connection: QUIET, publishOnAppend: true });
    try {
      const recorder = new Recorder();
      node.setHandler(recorder);
      const channels = await spread(c, prefix, uniqueChannel('killed'), 2);
      await Promise.all(channels.map((channel) => node.subscribe(channel)));
      const append = (channel: string) => history.append(channel, { data: Date.now(), time: Date.now() }, { size: 100, ttlMs: 60_000 });
      for (const channel of channels) await append(channel);
      await waitFor(() => recorder.deliveries.length === channels.length, 'a delivery per channel');

      const killed = await Promise.all(c.nodes.map((n) => command(n.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub'])));
      assert.ok(killed.every((n) => Number(n) >= 1), `killed ${killed.join(', ')}`);
      const during = [];
      for (const channel of channels) {
        const at = Date.now();
        during.push({ channel, offset: (await append(channel)).publication.offset, at });
      }
      await waitFor(() => outages.length === 1, 'the resubscribe hook');
      assert.equal(disconnects, 1);
      assert.deepEqual([...outages[0]!.channels].sort(), [...channels].sort());
      assert.ok(node.connected);
      // What was sent after the hook arrives; what was sent before may have run before the resubscription (the
      // hub replays it from history).
      const after = during.filter(({ at }) => at > outages[0]!.at);
      await waitFor(() => after.every(({ channel, offset }) => recorder.offsets(channel).includes(offset)), 'the publications sent after the hook');
      assert.deepEqual(await shardChannels(c, prefix), [2, 2, 2], 'every channel subscribed again on its master');
      for (const channel of channels) await append(channel);
      await waitFor(() => channels.every((ch) => recorder.offsets(ch).at(-1) === 3), 'a delivery on every channel after the outage');
      t.diagnostic(`outage reported after ${outages[0]!.outage.durationMs} ms; ${during.filter((d) => recorder.offsets(d.channel).includes(d.offset)).length}/${during.length} publications made during it delivered live`);
    } finally {
      await Promise.all([node.close(), history.close()]);
    }
  });

  test("the tests' deleteKeys removes a prefix's keys from every master", T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const c = await cluster();
    const prefix = randomPrefix();
    const clients = await sharedClients();
    const history = new RedisHistoryStore({ client: clients.command, prefix });
    for (const channel of await spread(c, prefix, uniqueChannel('clean'), 2)) await history.append(channel, { data: 1, time: 1 }, { size: 10, ttlMs: 60_000 });
    const count = async () => Promise.all(c.nodes.map(async (n) => ((await command(n.port, ['KEYS', `${prefix}*`])) as string[]).length));
    assert.deepEqual(await count(), [4, 4, 4]);
    await deleteKeys(clients.command, prefix);
    assert.deepEqual(await count(), [0, 0, 0]);
  });

  test('without sharded Pub/Sub (PUBLISH over the cluster bus), delivers across nodes too', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const c = await cluster();
    const prefix = randomPrefix();
    const [a, b] = [0, 1].map(() => new RedisEngine({ url: c.url, prefix, sharded: false, connection: QUIET }));
    try {
      const recorder = new Recorder();
      a!.broker.setHandler(new Recorder());
      b!.broker.setHandler(recorder);
      const channels = await spread(c, prefix, uniqueChannel('plain'), 1);
      const spublish = await calls(c, 'spublish');
      for (const channel of channels) await b!.broker.subscribe(channel);
      for (const channel of channels) for (let i = 1; i <= 20; i++) await a!.history.append(channel, { data: i, time: i }, { size: 100, ttlMs: 60_000 });
      await waitFor(() => recorder.deliveries.length === 60, '60 deliveries');
      assert.deepEqual(channels.map((ch) => recorder.offsets(ch)), channels.map(() => range(1, 20)));
      assert.deepEqual(await calls(c, 'spublish'), spublish, 'no SPUBLISH from these engines');
      assert.deepEqual(await shardChannels(c, prefix), [0, 0, 0]);
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });

});

describe('two hubs on the Redis Cluster', () => {
  let hubs: TwoHubs | undefined;
  let prefix = '';
  /** The hubs of this describe, started on first use (on the cluster), closed after it. */
  const twoHubs = async (): Promise<TwoHubs> => (hubs ??= await startTwoHubs({ url: (await cluster()).url, prefix: (prefix = randomPrefix()) }));
  /** Channel names of `namespace` spread over every master. */
  const channels = async (namespace: string, perMaster: number) => spread(await cluster(), prefix, `${namespace}:${uniqueChannel('c').replace(/:/g, '-')}`, perMaster);
  after(() => hubs?.close());

  test('publications of both nodes reach subscribers on both nodes in offset order, on channels of every master', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    await checkOrder(await twoHubs(), await channels('feed', 2));
  });

  test('a client that left node B recovers on node A what it missed', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    await checkRecovery(await twoHubs(), (await channels('feed', 1))[0]!);
  });

  test('an idempotency key repeated on the other node publishes once, with and without history', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const hubs = await twoHubs();
    const [withHistory, ticker] = [(await channels('feed', 1))[1]!, (await channels('ticker', 1))[2]!];
    await checkIdempotency(hubs, withHistory, ticker);
  });

  test("a user's rate limit is shared by the nodes", T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    await checkSharedRateLimits(await twoHubs(), (await channels('feed', 1))[0]!);
  });

  test('presence joined on both nodes is seen from both', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    await checkPresence(await twoHubs(), (await channels('room', 1))[1]!);
  });

  test("no publication is lost when every master drops node B's Pub/Sub connections (CLIENT KILL TYPE pubsub)", T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const c = await cluster();
    const hubs = await twoHubs();
    const { resyncs } = await checkNoLossAcrossPubSubOutage(hubs, await channels('feed', 1), async () => {
      const killed = await Promise.all(c.nodes.map((n) => command(n.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub'])));
      assert.ok(killed.every((n) => Number(n) >= 1), `killed ${killed.join(', ')}`);
    });
    t.diagnostic(`node B resynced ${resyncs} time(s)`);
  });
});
