/**
 * After the broker lost deliveries (an outage, or a subscription it silently stopped feeding), subscribers are
 * brought up to date from history: every missed publication once, in order, then live ones.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Broker, BrokerHandler, ClientInfo, Publication } from './engine.js';
import { MemoryBroker } from '../engines/index.js';
import { HubClient } from './testing/hub-client.js';
import { startHub, type StartedHub } from './testing/start-hub.js';

/** A memory broker that drops every delivery while `down` is set, as a broker whose connection was lost. */
class LossyBroker implements Broker {
  down = false;
  private readonly inner = new MemoryBroker();
  setHandler(handler: BrokerHandler): void {
    this.inner.setHandler({
      publication: (channel, publication, epoch) => {
        if (!this.down) handler.publication(channel, publication, epoch);
      },
      join: (channel, info) => handler.join(channel, info),
      leave: (channel, info) => handler.leave(channel, info),
    });
  }
  publish(channel: string, publication: Publication, epoch: string) {
    return this.inner.publish(channel, publication, epoch);
  }
  publishJoin(channel: string, info: ClientInfo) {
    return this.inner.publishJoin(channel, info);
  }
  publishLeave(channel: string, info: ClientInfo) {
    return this.inner.publishLeave(channel, info);
  }
  subscribe(channel: string) {
    return this.inner.subscribe(channel);
  }
  unsubscribe(channel: string) {
    return this.inner.unsubscribe(channel);
  }
  close() {
    return this.inner.close();
  }
}

const open = { subscribe: 'anyone', publish: 'anyone' } as const;

async function offsetsReceived(client: HubClient, count: number): Promise<number[]> {
  const offsets: number[] = [];
  while (offsets.length < count) offsets.push((await client.nextPush((p) => p.type === 'publication', 8000)).offset);
  return offsets;
}

describe('resync from history after lost deliveries', () => {
  const started: StartedHub[] = [];
  after(async () => {
    for (const s of started) await s.close();
  });

  test('hub.resync replays exactly what the broker dropped, then live publications follow', { timeout: 20_000 }, async () => {
    const broker = new LossyBroker();
    const s = await startHub({ broker, allowAnonymous: true, namespaces: { default: open } });
    started.push(s);
    const client = await HubClient.open(s.url);
    await client.connect();
    await client.ok('subscribe', { channel: 'feed:a' });
    await s.hub.publish('feed:a', 1);
    broker.down = true;
    for (let i = 2; i <= 6; i++) await s.hub.publish('feed:a', i);
    broker.down = false;
    await s.hub.resync(['feed:a']);
    await s.hub.publish('feed:a', 7);
    assert.deepEqual(await offsetsReceived(client, 7), [1, 2, 3, 4, 5, 6, 7]);
    await client.close();
  });

  test('after hub.resync the next live publication is no offset jump: history is not read a second time', { timeout: 20_000 }, async () => {
    const broker = new LossyBroker();
    const s = await startHub({ broker, allowAnonymous: true, namespaces: { default: open } });
    started.push(s);
    let reads = 0;
    const recover = s.hub.recover.bind(s.hub);
    s.hub.recover = (...args) => {
      reads++;
      return recover(...args);
    };
    const client = await HubClient.open(s.url);
    await client.connect();
    await client.ok('subscribe', { channel: 'feed:a' });
    const readsBySubscribe = reads;
    await s.hub.publish('feed:a', 1);
    broker.down = true;
    for (let i = 2; i <= 6; i++) await s.hub.publish('feed:a', i);
    broker.down = false;
    await s.hub.resync(['feed:a']);
    assert.equal(reads - readsBySubscribe, 1, 'one catch-up read for the one subscriber');
    await s.hub.publish('feed:a', 7);
    assert.deepEqual(await offsetsReceived(client, 7), [1, 2, 3, 4, 5, 6, 7]);
    // Regression: the hub's record of what it delivered stayed at 1, so 7 looked like a jump and every
    // subscriber was caught up from history again.
    assert.equal(reads - readsBySubscribe, 1, 'no second catch-up');
    await client.close();
  });

  test('a silently starved subscription is found by the position check and healed', { timeout: 20_000 }, async () => {
    const broker = new LossyBroker();
    const s = await startHub({ broker, allowAnonymous: true, namespaces: { default: open }, limits: { positionCheckIntervalMs: 1000 } });
    started.push(s);
    const client = await HubClient.open(s.url);
    await client.connect();
    await client.ok('subscribe', { channel: 'feed:b' });
    broker.down = true;
    for (let i = 1; i <= 4; i++) await s.hub.publish('feed:b', i);
    // Nothing arrives live; two position checks in a row see history ahead and resync.
    assert.deepEqual(await offsetsReceived(client, 4), [1, 2, 3, 4]);
    await client.close();
  });

  test('in a channel without history, subscribers are told publications may be lost', { timeout: 20_000 }, async () => {
    const s = await startHub({ allowAnonymous: true, namespaces: { default: { ...open, historySize: 0 } } });
    started.push(s);
    const client = await HubClient.open(s.url);
    await client.connect();
    await client.ok('subscribe', { channel: 'live:x' });
    await s.hub.resync(['live:x']);
    const gap = await client.nextPush((p) => p.type === 'gap');
    assert.deepEqual({ from: gap.fromOffset, to: gap.toOffset }, { from: 0, to: 0 });
    await client.close();
  });
});
