/**
 * RedisBroker against the shared broker contract (the peer is a second broker on its own connections: another
 * node), then the faults of issue 5 and N1/N2 of the reliability bar: the Pub/Sub connection killed with
 * CLIENT KILL, Redis unreachable, malformed messages and throwing handlers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Publication } from '../../hub/engine.js';
import { registerOrSkip } from '../../test-support/requirements.js';
import { Recorder, brokerContract } from '../contract/broker-contract.js';
import { code, range, uniqueChannel, waitFor } from '../contract/support.js';
import { type PubSubOutage, RedisBroker, type RedisBrokerOptions } from './index.js';
import { QUIET, REDIS_URL, randomPrefix, redisOrSkip, redisTestFile } from './testing/support.js';

const { unavailable, redis } = await redisTestFile();

const pub = (offset: number, data: unknown = `m${offset}`): Publication => ({ offset, data, time: 1_700_000_000_000 + offset });

/** Brokers of one test (one prefix: nodes of one hub), all closed by `close()`. */
function nodes(prefix = randomPrefix()) {
  const made: RedisBroker[] = [];
  return {
    prefix,
    make(options: Omit<RedisBrokerOptions, 'url' | 'prefix' | 'connection'> = {}): RedisBroker {
      const broker = new RedisBroker({ url: REDIS_URL, prefix, connection: QUIET, ...options });
      made.push(broker);
      return broker;
    },
    close: () => Promise.all(made.map((b) => b.close())),
  };
}

registerOrSkip('RedisBroker contract', unavailable, () =>
  brokerContract('RedisBroker', async () => {
    const hub = nodes();
    return { broker: hub.make(), peer: async () => hub.make(), cleanup: async () => void (await hub.close()) };
  }),
);

/** The id of the Pub/Sub connection named `volley-sub-<prefix>`, from CLIENT LIST TYPE pubsub. */
async function pubsubConnectionId(prefix: string): Promise<string | undefined> {
  const list = (await redis!.client.call('test', 'CLIENT', ['LIST', 'TYPE', 'pubsub'])) as string;
  const line = list.split('\n').find((l) => l.includes(` name=volley-sub-${prefix} `));
  return line === undefined ? undefined : /(?:^|\s)id=(\d+)/.exec(line)?.[1];
}

/** Subscribers of each Pub/Sub channel, from PUBSUB NUMSUB. */
async function numsub(prefix: string, channels: readonly string[]): Promise<number[]> {
  const reply = (await redis!.client.call('test', 'PUBSUB', ['NUMSUB', ...channels.map((c) => `${prefix}{${c}}`)])) as Array<string | number>;
  return channels.map((_, i) => Number(reply[i * 2 + 1]));
}

describe('RedisBroker on a shared Redis', () => {
  test('subscribes in Redis only to channels with local interest, and drops them on unsubscribe', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const hub = nodes();
    try {
      const broker = hub.make();
      broker.setHandler(new Recorder());
      const [wanted, other] = [uniqueChannel('interest'), uniqueChannel('interest')];
      await broker.subscribe(wanted);
      assert.deepEqual(await numsub(hub.prefix, [wanted, other]), [1, 0]);
      await broker.unsubscribe(wanted);
      assert.deepEqual(await numsub(hub.prefix, [wanted, other]), [0, 0]);
      assert.deepEqual(broker.channels, []);
    } finally {
      await hub.close();
    }
  });

  test('subscribes 2000 channels requested at once and delivers on each', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const hub = nodes();
    try {
      const [node, publisher] = [hub.make(), hub.make()];
      const recorder = new Recorder();
      node.setHandler(recorder);
      const channels = range(1, 2000).map(() => uniqueChannel('batch'));
      await Promise.all(channels.map((c) => node.subscribe(c)));
      assert.ok((await numsub(hub.prefix, channels)).every((n) => n === 1));
      await Promise.all(channels.map((c, i) => publisher.publish(c, pub(i + 1), 'e')));
      await waitFor(() => recorder.deliveries.length === 2000, '2000 deliveries');
      assert.deepEqual(channels.map((c) => recorder.offsets(c)), range(1, 2000).map((i) => [i]));
    } finally {
      await hub.close();
    }
  });

  test('after CLIENT KILL TYPE pubsub of its connection, resubscribes every channel, reports the outage and delivers again', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const hub = nodes();
    try {
      const outages: Array<{ channels: readonly string[]; outage: PubSubOutage }> = [];
      let disconnects = 0;
      const node = hub.make({ onResubscribe: (channels, outage) => outages.push({ channels, outage }), onDisconnect: () => disconnects++ });
      const publisher = hub.make();
      const recorder = new Recorder();
      node.setHandler(recorder);
      const channels = range(1, 5).map(() => uniqueChannel('killed'));
      for (const channel of channels.slice(0, 2)) await node.subscribe(channel);
      await Promise.all(channels.slice(2).map((c) => node.subscribe(c)));
      const id = await pubsubConnectionId(hub.prefix);
      assert.ok(id !== undefined, 'the subscriber is a pubsub connection named volley-sub-<prefix>');
      assert.equal(await redis!.client.call('test', 'CLIENT', ['KILL', 'ID', id]), 1);

      await waitFor(() => outages.length === 1, 'the resubscribe hook', 5_000);
      assert.equal(disconnects, 1);
      assert.deepEqual([...outages[0]!.channels].sort(), [...channels].sort());
      assert.ok(outages[0]!.outage.durationMs >= 0 && outages[0]!.outage.since <= Date.now());
      assert.ok(node.connected);
      assert.deepEqual(await numsub(hub.prefix, channels), [1, 1, 1, 1, 1]);
      const newId = await pubsubConnectionId(hub.prefix);
      assert.ok(newId !== undefined && newId !== id, 'a new pubsub connection with the same name');

      for (const [i, channel] of channels.entries()) await publisher.publish(channel, pub(i + 1), 'e');
      await waitFor(() => recorder.deliveries.length === 5, 'a delivery on every channel');
      assert.deepEqual(channels.map((c) => recorder.offsets(c)), [[1], [2], [3], [4], [5]]);

      const later = uniqueChannel('after');
      await node.subscribe(later);
      await publisher.publish(later, pub(9), 'e');
      await waitFor(() => recorder.offsets(later).length === 1, 'a channel subscribed after the reconnect');
    } finally {
      await hub.close();
    }
  });

  test('rejects publish and subscribe with VOLLEY_ERR_ENGINE_UNAVAILABLE within offlineTimeoutMs when Redis is unreachable', async () => {
    const broker = new RedisBroker({ url: 'redis://127.0.0.1:1', connection: { ...QUIET, offlineTimeoutMs: 300 } });
    try {
      broker.setHandler(new Recorder());
      const started = Date.now();
      await assert.rejects(broker.publish('chat:1', pub(1), 'e'), (error: Error) => {
        code('VOLLEY_ERR_ENGINE_UNAVAILABLE')(error);
        assert.match(error.message, /publish to chat:1/);
        assert.match(error.message, /^Redis unavailable: .*\((connect ECONNREFUSED 127\.0\.0\.1:1|not connected)\)$/);
        return true;
      });
      assert.ok(Date.now() - started < 1_500, `rejected after ${Date.now() - started} ms`);
      await assert.rejects(broker.publishJoin('chat:1', { clientId: 'c', userId: 'u' }), code('VOLLEY_ERR_ENGINE_UNAVAILABLE'));
      await assert.rejects(broker.subscribe('chat:1'), code('VOLLEY_ERR_ENGINE_UNAVAILABLE'));
      assert.deepEqual(broker.channels, [], 'a failed subscribe is not kept');
      await broker.unsubscribe('chat:1');
    } finally {
      await broker.close();
    }
    await assert.rejects(broker.publish('chat:1', pub(2), 'e'), code('VOLLEY_ERR_INVALID_STATE'));
  });

  test('reports malformed messages and handler errors to onError and keeps delivering', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const hub = nodes();
    try {
      const errors: string[] = [];
      const node = hub.make({ onError: (error) => errors.push(String(error)) });
      const recorder = new Recorder();
      let throws = true;
      node.setHandler({
        publication: (channel, publication, epoch) => {
          if (throws) {
            throws = false;
            throw new Error('handler bug');
          }
          recorder.publication(channel, publication, epoch);
        },
        join: () => {},
        leave: () => {},
      });
      const channel = uniqueChannel('malformed');
      await node.subscribe(channel);
      const name = `${hub.prefix}{${channel}}`;
      for (const garbage of ['not json', '{"t":"p"}', '{"t":"x"}', 'null']) await redis!.client.call('test', 'PUBLISH', [name, garbage]);
      await node.publish(channel, pub(1), 'e');
      await node.publish(channel, pub(2), 'e');
      await waitFor(() => recorder.offsets(channel).length === 1, 'the publication after the bad ones');
      assert.deepEqual(recorder.offsets(channel), [2]);
      assert.equal(errors.length, 5);
      assert.match(errors[0]!, /malformed message on .*: not JSON/);
      assert.match(errors[4]!, /handler bug/);
    } finally {
      await hub.close();
    }
  });

  test('rejects a publication that is not JSON with VOLLEY_ERR_NOT_JSON', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const hub = nodes();
    try {
      const broker = hub.make();
      await assert.rejects(broker.publish('c', { offset: 1, data: 10n, time: 1 }, 'e'), code('VOLLEY_ERR_NOT_JSON'));
    } finally {
      await hub.close();
    }
  });
});
