/**
 * The memory engines against the shared contracts (with a fake clock and with the real one), then what is
 * specific to each: LRU eviction, sweeping, the sweep timer's life, synchronous and re-entrant delivery.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { BrokerHandler, Publication } from '../hub/engine.js';
import { guardProcess } from '../test-support/process-guard.js';
import { brokerContract, Recorder } from './contract/broker-contract.js';
import { historyContract } from './contract/history-contract.js';
import { presenceContract } from './contract/presence-contract.js';
import { code, fakeClock, recordingTimers } from './contract/support.js';
import { MemoryBroker, MemoryBus, MemoryHistoryStore, MemoryPresenceStore } from './index.js';

const guard = guardProcess();
after(() => guard.assertClean());

historyContract('MemoryHistoryStore', async () => {
  const clock = fakeClock();
  const store = new MemoryHistoryStore({ now: clock.now });
  return { store, now: clock.advance, cleanup: () => store.close() };
});

historyContract('MemoryHistoryStore on the real clock', async () => {
  const store = new MemoryHistoryStore();
  return { store, cleanup: () => store.close() };
});

brokerContract('MemoryBroker on a shared bus', async () => {
  const bus = new MemoryBus();
  const brokers = [new MemoryBroker({ bus })];
  const peer = async () => {
    const broker = new MemoryBroker({ bus });
    brokers.push(broker);
    return broker;
  };
  return {
    broker: brokers[0]!,
    peer,
    cleanup: async () => {
      for (const broker of brokers) await broker.close();
      assert.equal(bus.channels, 0, 'closing every broker leaves the bus empty');
    },
  };
});

brokerContract('MemoryBroker alone', async () => {
  const broker = new MemoryBroker();
  return { broker, cleanup: () => broker.close() };
});

presenceContract('MemoryPresenceStore', async () => {
  const clock = fakeClock();
  const store = new MemoryPresenceStore({ now: clock.now });
  return { store, now: clock.advance, cleanup: () => store.close() };
});

presenceContract('MemoryPresenceStore on the real clock', async () => {
  const store = new MemoryPresenceStore();
  return { store, cleanup: () => store.close() };
});

const LONG = { size: 10, ttlMs: 60_000 };
const entry = (data: unknown) => ({ data, time: 0 });

describe('MemoryHistoryStore', () => {
  test('forgets the least recently used stream beyond maxChannels, epoch included', async () => {
    const store = new MemoryHistoryStore({ maxChannels: 3 });
    const a = await store.position('a');
    const b = await store.position('b');
    await store.append('c', entry(1), LONG);
    await store.read('a', {});
    await store.position('d');
    assert.equal(store.channels, 3);
    assert.deepEqual(await store.position('a'), a, 'a was used recently and is kept');
    assert.notEqual((await store.position('b')).epoch, b.epoch, 'b was the least recently used and lost its epoch');
    await store.close();
  });

  test('counts appends as use when choosing what maxChannels evicts', async () => {
    const store = new MemoryHistoryStore({ maxChannels: 2 });
    const a = await store.append('a', entry(1), LONG);
    await store.append('b', entry(1), LONG);
    await store.append('a', entry(2), LONG);
    await store.append('c', entry(1), LONG);
    assert.deepEqual(await store.position('a'), { epoch: a.epoch, offset: 2 });
    assert.equal((await store.read('b', {})).offset, 0);
    await store.close();
  });

  test('forgets the oldest idempotency keys beyond maxDedupeKeys', async () => {
    const store = new MemoryHistoryStore({ maxDedupeKeys: 2 });
    const options = { ...LONG, dedupeWindowMs: 60_000 };
    for (const key of ['k1', 'k2', 'k3']) await store.append('ch', entry(key), { ...options, idempotencyKey: key });
    assert.equal((await store.append('ch', entry('again'), { ...options, idempotencyKey: 'k3' })).duplicate, true);
    assert.equal((await store.append('ch', entry('again'), { ...options, idempotencyKey: 'k2' })).duplicate, true);
    assert.equal((await store.append('ch', entry('again'), { ...options, idempotencyKey: 'k1' })).duplicate, false);
    await store.close();
  });

  test('uses the dedupeWindowMs option when append names a key but no window', async () => {
    const clock = fakeClock();
    const store = new MemoryHistoryStore({ now: clock.now, dedupeWindowMs: 1_000 });
    await store.append('ch', entry(1), { ...LONG, idempotencyKey: 'k' });
    clock.advance(999);
    assert.equal((await store.append('ch', entry(2), { ...LONG, idempotencyKey: 'k' })).duplicate, true);
    clock.advance(1);
    assert.equal((await store.append('ch', entry(3), { ...LONG, idempotencyKey: 'k' })).duplicate, false);
    await store.close();
  });

  test('keeps the epoch of a stream without publications for emptyStreamTtlMs, then forgets it', async () => {
    const clock = fakeClock();
    const store = new MemoryHistoryStore({ now: clock.now, emptyStreamTtlMs: 5_000 });
    const first = await store.position('ch');
    clock.advance(4_999);
    assert.deepEqual(await store.position('ch'), first);
    clock.advance(1);
    assert.notEqual((await store.position('ch')).epoch, first.epoch);
    await store.close();
  });

  test('keeps expiry monotonic when ttlMs shrinks, so expired publications never leave a hole', async () => {
    const clock = fakeClock();
    const store = new MemoryHistoryStore({ now: clock.now });
    await store.append('ch', entry(1), { size: 10, ttlMs: 10_000 });
    await store.append('ch', entry(2), { size: 10, ttlMs: 1_000 });
    await store.append('ch', entry(3), { size: 10, ttlMs: 10_000 });
    clock.advance(5_000);
    const page = await store.read('ch', {});
    assert.deepEqual(page.publications.map((p) => p.offset), [1, 2, 3]);
    clock.advance(5_000);
    assert.deepEqual((await store.read('ch', {})).publications, []);
    await store.close();
  });

  test('sweep() drops expired streams, and the timer starts with the first stream, unref’d, and stops when none is left', async () => {
    const clock = fakeClock();
    const timers = recordingTimers();
    const store = new MemoryHistoryStore({ now: clock.now, timers, sweepIntervalMs: 500, emptyStreamTtlMs: 1_000 });
    assert.deepEqual(timers.log, [], 'no timer before the first stream');
    await store.append('a', entry(1), { size: 10, ttlMs: 1_000 });
    await store.append('b', entry(1), { size: 10, ttlMs: 3_000 });
    assert.deepEqual(timers.log, ['start 500', 'unref']);
    clock.advance(2_000);
    timers.tick();
    assert.equal(store.channels, 1);
    assert.equal(timers.active, 1);
    clock.advance(2_000);
    timers.tick();
    assert.equal(store.channels, 0);
    assert.equal(timers.active, 0, 'the timer stops once no stream is left');
    await store.position('c');
    assert.equal(timers.active, 1, 'and restarts with the next one');
    await store.close();
    assert.equal(timers.active, 0, 'close() stops it');
    assert.deepEqual(timers.log, ['start 500', 'unref', 'stop', 'start 500', 'unref', 'stop']);
  });

  test('throws VOLLEY_ERR_INVALID_ARGUMENT at construction for a bad option', () => {
    for (const options of [{ maxChannels: 0 }, { maxDedupeKeys: 1.5 }, { sweepIntervalMs: -1 }, { now: 5 }, { dedupeWindowMs: Number.NaN }]) {
      assert.throws(() => new MemoryHistoryStore(options as never), code('VOLLEY_ERR_INVALID_ARGUMENT'), JSON.stringify(options));
    }
  });

  test('rejects with VOLLEY_ERR_INVALID_ARGUMENT when randomId makes an empty epoch', async () => {
    const store = new MemoryHistoryStore({ randomId: () => '' });
    await assert.rejects(store.position('ch'), code('VOLLEY_ERR_INVALID_ARGUMENT'));
    assert.equal(store.channels, 0);
    await store.close();
  });

  test('uses randomId for epochs', async () => {
    let n = 0;
    const store = new MemoryHistoryStore({ randomId: () => `epoch-${++n}` });
    assert.equal((await store.position('a')).epoch, 'epoch-1');
    assert.equal((await store.append('b', entry(1), LONG)).epoch, 'epoch-2');
    await store.close();
  });
});

const pub = (offset: number): Publication => ({ offset, data: offset, time: 0 });

describe('MemoryBroker', () => {
  test('delivers synchronously, before publish() returns its promise', async () => {
    const broker = new MemoryBroker();
    const recorder = new Recorder();
    broker.setHandler(recorder);
    await broker.subscribe('ch');
    const pending = broker.publish('ch', pub(1), 'e');
    assert.deepEqual(recorder.offsets('ch'), [1]);
    await pending;
    await broker.close();
  });

  test('delivers a publish made inside a handler after the current delivery, to every node in call order', async () => {
    const bus = new MemoryBus();
    const [a, b] = [new MemoryBroker({ bus }), new MemoryBroker({ bus })];
    const seenByA: number[] = [];
    const recorderB = new Recorder();
    const reentrant: BrokerHandler = {
      publication: (channel, publication) => {
        seenByA.push(publication.offset);
        if (publication.offset === 1) void a.publish(channel, pub(2), 'e');
      },
      join() {},
      leave() {},
    };
    a.setHandler(reentrant);
    b.setHandler(recorderB);
    await a.subscribe('ch');
    await b.subscribe('ch');
    await a.publish('ch', pub(1), 'e');
    assert.deepEqual(seenByA, [1, 2]);
    assert.deepEqual(recorderB.offsets('ch'), [1, 2]);
    await a.close();
    await b.close();
  });

  test('reports a handler error to onError and still delivers to the other nodes', async () => {
    const bus = new MemoryBus();
    const errors: Array<[unknown, string]> = [];
    const failing = new MemoryBroker({ bus, onError: (error, channel) => errors.push([error, channel]) });
    const healthy = new MemoryBroker({ bus });
    const recorder = new Recorder();
    const boom = new Error('handler failed');
    failing.setHandler({ publication: () => { throw boom; }, join: () => { throw boom; }, leave() {} });
    healthy.setHandler(recorder);
    await failing.subscribe('ch');
    await healthy.subscribe('ch');
    await failing.publish('ch', pub(1), 'e');
    await failing.publishJoin('ch', { clientId: 'c', userId: 'u' });
    assert.deepEqual(errors, [[boom, 'ch'], [boom, 'ch']]);
    assert.deepEqual(recorder.offsets('ch'), [1]);
    assert.equal(recorder.on('ch').length, 2);
    await failing.close();
    await healthy.close();
  });

  test('rejects subscribe before setHandler, and a second setHandler, with VOLLEY_ERR_INVALID_STATE', async () => {
    const broker = new MemoryBroker();
    await assert.rejects(broker.subscribe('ch'), code('VOLLEY_ERR_INVALID_STATE'));
    await broker.publish('ch', pub(1), 'e');
    broker.setHandler(new Recorder());
    assert.throws(() => broker.setHandler(new Recorder()), code('VOLLEY_ERR_INVALID_STATE'));
    assert.throws(() => new MemoryBroker().setHandler({} as never), code('VOLLEY_ERR_INVALID_ARGUMENT'));
    await broker.close();
  });
});

describe('MemoryPresenceStore', () => {
  test('sweep() drops expired members, and the timer lives only while there are members', async () => {
    const clock = fakeClock();
    const timers = recordingTimers();
    const store = new MemoryPresenceStore({ now: clock.now, timers, sweepIntervalMs: 250 });
    assert.equal(timers.active, 0);
    await store.add('a', { clientId: 'c1', userId: 'u1' }, 1_000);
    await store.add('b', { clientId: 'c2', userId: 'u2' }, 5_000);
    assert.deepEqual(timers.log, ['start 250', 'unref']);
    clock.advance(2_000);
    timers.tick();
    assert.equal(store.channels, 1);
    clock.advance(4_000);
    timers.tick();
    assert.equal(store.channels, 0);
    assert.equal(timers.active, 0);
    await store.add('c', { clientId: 'c3', userId: 'u3' }, 1_000);
    await store.close();
    assert.equal(timers.active, 0);
  });

  test('returns members as copies that the caller may change without affecting the store', async () => {
    const store = new MemoryPresenceStore();
    const info = { clientId: 'c1', userId: 'u1', data: { status: 'here' } };
    await store.add('ch', info, 60_000);
    info.data.status = 'changed after add';
    const first = await store.members('ch');
    (first.get('c1')!.data as { status: string }).status = 'changed by a reader';
    assert.deepEqual((await store.members('ch')).get('c1'), { clientId: 'c1', userId: 'u1', data: { status: 'here' } });
    await store.close();
  });
});
