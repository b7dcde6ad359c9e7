/**
 * The contract every {@link Broker} must pass (memory, and later Redis): interest-based delivery, per-channel
 * order, join/leave, idempotent subscribe/unsubscribe, and, when the engine can run several nodes, delivery
 * across them.
 *
 * "Nothing was delivered" is checked after a barrier: a publication on another subscribed channel from the same
 * publisher, then a short real-time wait, so engines that deliver asynchronously are judged fairly.
 *
 * @example
 * ```ts
 * brokerContract('MemoryBroker', async () => {
 *   const bus = new MemoryBus();
 *   const brokers = [new MemoryBroker({ bus })];
 *   const peer = async () => { const b = new MemoryBroker({ bus }); brokers.push(b); return b; };
 *   return { broker: brokers[0]!, peer, cleanup: async () => { for (const b of brokers) await b.close(); } };
 * });
 * ```
 *
 * @module
 */

import assert from 'node:assert/strict';
import { type TestContext, describe, test } from 'node:test';
import type { Broker, BrokerHandler, ClientInfo, Publication } from '../../hub/engine.js';
import { code, range, sleep, uniqueChannel, waitFor } from './support.js';

/** A fresh broker (no handler installed yet) for one test. */
export interface BrokerHarness {
  readonly broker: Broker;
  /**
   * Makes the broker of another node on the same backend (no handler yet), for the cross-node tests, which are
   * skipped without it. `cleanup` closes it.
   */
  readonly peer?: () => Promise<Broker>;
  /** Closes every broker (some may already be closed) and removes what the test left behind. */
  cleanup(): Promise<void>;
}

/** One delivery as a {@link Recorder} saw it. */
export type Delivery =
  | { readonly type: 'publication'; readonly channel: string; readonly publication: Publication; readonly epoch: string }
  | { readonly type: 'join' | 'leave'; readonly channel: string; readonly info: ClientInfo };

/** A handler that records every delivery. */
export class Recorder implements BrokerHandler {
  readonly deliveries: Delivery[] = [];
  publication(channel: string, publication: Publication, epoch: string): void {
    this.deliveries.push({ type: 'publication', channel, publication, epoch });
  }
  join(channel: string, info: ClientInfo): void {
    this.deliveries.push({ type: 'join', channel, info });
  }
  leave(channel: string, info: ClientInfo): void {
    this.deliveries.push({ type: 'leave', channel, info });
  }
  /** Offsets of the publications delivered on `channel`, in delivery order. */
  offsets(channel: string): number[] {
    return this.deliveries.flatMap((d) => (d.type === 'publication' && d.channel === channel ? [d.publication.offset] : []));
  }
  /** Deliveries on `channel`. */
  on(channel: string): Delivery[] {
    return this.deliveries.filter((d) => d.channel === channel);
  }
}

const pub = (offset: number, data: unknown = `m${offset}`): Publication => ({ offset, data, time: 1_700_000_000_000 + offset });
const bob: ClientInfo = { clientId: 'client-b', userId: 'bob', data: { status: 'here' } };

/**
 * Waits until everything `publisher` published before now has reached `receiver`: publishes on a barrier channel
 * that `receiverBroker` subscribes to, waits for it, then lets a little real time pass.
 */
async function barrier(publisher: Broker, receiverBroker: Broker, receiver: Recorder): Promise<void> {
  const channel = uniqueChannel('barrier');
  await receiverBroker.subscribe(channel);
  await publisher.publish(channel, pub(1, 'barrier'), 'barrier');
  await waitFor(() => receiver.on(channel).length > 0, 'the barrier publication');
  await receiverBroker.unsubscribe(channel);
  await sleep(20);
}

/** Registers the broker contract tests for one engine under `describe(name)`. */
export function brokerContract(name: string, make: () => Promise<BrokerHarness>): void {
  const withBroker = (
    title: string,
    body: (h: BrokerHarness, recorder: Recorder, channel: string, t: TestContext) => Promise<void>,
  ) =>
    test(title, async (t) => {
      const harness = await make();
      try {
        const recorder = new Recorder();
        harness.broker.setHandler(recorder);
        await body(harness, recorder, uniqueChannel('broker'), t);
      } finally {
        await harness.cleanup();
      }
    });

  /** Makes the peer node with its own recorder, or skips the test. */
  async function peerOf(harness: BrokerHarness, t: TestContext): Promise<[Broker, Recorder] | undefined> {
    if (harness.peer === undefined) {
      t.skip('the engine offers no second node');
      return undefined;
    }
    const peer = await harness.peer();
    const recorder = new Recorder();
    peer.setHandler(recorder);
    return [peer, recorder];
  }

  describe(`${name} (Broker contract)`, () => {
    withBroker('delivers a publication with its channel and epoch to a subscriber', async ({ broker }, recorder, channel) => {
      await broker.subscribe(channel);
      const publication: Publication = { offset: 7, data: { text: 'hi', list: [1, null] }, info: bob, time: 1_700_000_000_000 };
      await broker.publish(channel, publication, 'epoch-1');
      await waitFor(() => recorder.deliveries.length === 1, 'the publication');
      assert.deepEqual(recorder.deliveries, [{ type: 'publication', channel, publication, epoch: 'epoch-1' }]);
    });

    withBroker('delivers only channels it subscribed to', async ({ broker }, recorder, channel) => {
      await broker.subscribe(channel);
      await broker.publish(`${channel}-other`, pub(1), 'e');
      await broker.publishJoin(`${channel}-other`, bob);
      await broker.publish(channel, pub(2), 'e');
      await barrier(broker, broker, recorder);
      assert.deepEqual(recorder.on(`${channel}-other`), []);
      assert.deepEqual(recorder.offsets(channel), [2]);
    });

    withBroker('keeps the order of 1000 publishes on a channel', async ({ broker }, recorder, channel) => {
      await broker.subscribe(channel);
      await Promise.all(range(1, 1000).map((offset) => broker.publish(channel, pub(offset), 'e')));
      await waitFor(() => recorder.offsets(channel).length === 1000, '1000 publications');
      assert.deepEqual(recorder.offsets(channel), range(1, 1000));
    });

    withBroker('keeps per-channel order when publishes to two channels interleave', async ({ broker }, recorder, channel) => {
      const [a, b] = [`${channel}-a`, `${channel}-b`];
      await broker.subscribe(a);
      await broker.subscribe(b);
      await Promise.all(range(1, 1000).map((i) => broker.publish(i % 2 ? a : b, pub(Math.ceil(i / 2)), 'e')));
      await waitFor(() => recorder.deliveries.length === 1000, '1000 publications');
      assert.deepEqual(recorder.offsets(a), range(1, 500));
      assert.deepEqual(recorder.offsets(b), range(1, 500));
    });

    withBroker('stops delivering after unsubscribe', async ({ broker }, recorder, channel) => {
      await broker.subscribe(channel);
      await broker.publish(channel, pub(1), 'e');
      await waitFor(() => recorder.offsets(channel).length === 1, 'the first publication');
      await broker.unsubscribe(channel);
      await broker.publish(channel, pub(2), 'e');
      await broker.publishJoin(channel, bob);
      await barrier(broker, broker, recorder);
      assert.deepEqual(recorder.offsets(channel), [1]);
      assert.equal(recorder.on(channel).length, 1);
    });

    withBroker('treats subscribe and unsubscribe as idempotent', async ({ broker }, recorder, channel) => {
      await broker.subscribe(channel);
      await broker.subscribe(channel);
      await broker.publish(channel, pub(1), 'e');
      await barrier(broker, broker, recorder);
      assert.deepEqual(recorder.offsets(channel), [1]);
      await broker.unsubscribe(channel);
      await broker.unsubscribe(channel);
      await broker.unsubscribe(`${channel}-never`);
      await broker.publish(channel, pub(2), 'e');
      await barrier(broker, broker, recorder);
      assert.deepEqual(recorder.offsets(channel), [1]);
      await broker.subscribe(channel);
      await broker.publish(channel, pub(3), 'e');
      await waitFor(() => recorder.offsets(channel).length === 2, 'the publication after resubscribing');
      assert.deepEqual(recorder.offsets(channel), [1, 3]);
    });

    withBroker('delivers join and leave to subscribers only, with the client info intact', async ({ broker }, recorder, channel) => {
      await broker.subscribe(channel);
      await broker.publishJoin(`${channel}-other`, bob);
      await broker.publishJoin(channel, bob);
      await broker.publishLeave(channel, bob);
      await waitFor(() => recorder.on(channel).length === 2, 'join and leave');
      await barrier(broker, broker, recorder);
      assert.deepEqual(recorder.on(channel), [
        { type: 'join', channel, info: bob },
        { type: 'leave', channel, info: bob },
      ]);
      assert.deepEqual(recorder.on(`${channel}-other`), []);
    });

    withBroker('keeps publications, joins and leaves of one channel in call order', async ({ broker }, recorder, channel) => {
      await broker.subscribe(channel);
      await Promise.all([
        broker.publishJoin(channel, bob),
        broker.publish(channel, pub(1), 'e'),
        broker.publishLeave(channel, bob),
        broker.publish(channel, pub(2), 'e'),
      ]);
      await waitFor(() => recorder.on(channel).length === 4, 'four deliveries');
      assert.deepEqual(
        recorder.on(channel).map((d) => (d.type === 'publication' ? d.publication.offset : d.type)),
        ['join', 1, 'leave', 2],
      );
    });

    withBroker('closes idempotently and then rejects calls with VOLLEY_ERR_INVALID_STATE', async ({ broker }, recorder, channel) => {
      await broker.subscribe(channel);
      await broker.close();
      await broker.close();
      await assert.rejects(broker.publish(channel, pub(1), 'e'), code('VOLLEY_ERR_INVALID_STATE'));
      await assert.rejects(broker.subscribe(channel), code('VOLLEY_ERR_INVALID_STATE'));
      assert.deepEqual(recorder.deliveries, []);
    });

    describe('across nodes', () => {
      withBroker('delivers a publication to every subscribed node, the publisher included', async (h, recorder, channel, t) => {
        const peer = await peerOf(h, t);
        if (peer === undefined) return;
        const [other, otherRecorder] = peer;
        await h.broker.subscribe(channel);
        await other.subscribe(channel);
        await h.broker.publish(channel, pub(1), 'e');
        await other.publish(channel, pub(2), 'e');
        await waitFor(() => recorder.offsets(channel).length === 2 && otherRecorder.offsets(channel).length === 2, 'both nodes');
        assert.deepEqual(recorder.offsets(channel), [1, 2]);
        assert.deepEqual(otherRecorder.offsets(channel), [1, 2]);
      });

      withBroker('does not deliver to a node that did not subscribe', async (h, recorder, channel, t) => {
        const peer = await peerOf(h, t);
        if (peer === undefined) return;
        const [other, otherRecorder] = peer;
        await other.subscribe(channel);
        await h.broker.publish(channel, pub(1), 'e');
        await h.broker.publishJoin(channel, bob);
        await waitFor(() => otherRecorder.on(channel).length === 2, 'the peer deliveries');
        await barrier(h.broker, h.broker, recorder);
        assert.deepEqual(recorder.on(channel), []);
      });

      withBroker('keeps the order of 1000 publishes from one node at another', async (h, _recorder, channel, t) => {
        const peer = await peerOf(h, t);
        if (peer === undefined) return;
        const [other, otherRecorder] = peer;
        await other.subscribe(channel);
        await Promise.all(range(1, 1000).map((offset) => h.broker.publish(channel, pub(offset), 'e')));
        await waitFor(() => otherRecorder.offsets(channel).length === 1000, '1000 publications at the peer');
        assert.deepEqual(otherRecorder.offsets(channel), range(1, 1000));
      });

      withBroker('delivers join and leave across nodes', async (h, _recorder, channel, t) => {
        const peer = await peerOf(h, t);
        if (peer === undefined) return;
        const [other, otherRecorder] = peer;
        await other.subscribe(channel);
        await h.broker.publishJoin(channel, bob);
        await h.broker.publishLeave(channel, bob);
        await waitFor(() => otherRecorder.on(channel).length === 2, 'join and leave at the peer');
        assert.deepEqual(otherRecorder.on(channel).map((d) => d.type), ['join', 'leave']);
      });
    });
  });
}
