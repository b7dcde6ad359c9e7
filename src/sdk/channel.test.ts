/**
 * A channel's delivery rule without a network: each publication once, in offset order, replay before live,
 * gaps reported with their exact range, across epoch changes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PublicationPush, SubscribeResult } from '../hub/wire.js';
import { Channel, type ChannelHost } from './channel.js';
import type { GapEvent } from './types.js';

function setup(connected = true) {
  const subscribes: string[] = [];
  const host: ChannelHost = {
    isConnected: connected,
    subscribeNow: (channel) => subscribes.push(channel.name),
    unsubscribeNow: () => {},
    publish: () => Promise.resolve({ epoch: '', offset: 0 }),
    presence: () => Promise.resolve({ clients: 0, users: 0 }),
    history: () => Promise.resolve({ epoch: '', offset: 0, publications: [] }),
  };
  const channel = new Channel<number>('chat:a', host);
  const offsets: number[] = [];
  const gaps: Array<Omit<GapEvent, 'channel'>> = [];
  channel.on('publication', (p) => offsets.push(p.offset));
  channel.on('gap', ({ channel: _, ...g }) => gaps.push(g));
  return { channel, offsets, gaps, subscribes };
}

const pub = (offset: number): PublicationPush => ({ type: 'publication', channel: 'chat:a', offset, data: offset, time: 0 });
const result = (epoch: string, offset: number, publications: number[] = [], recovered = false): SubscribeResult => ({
  epoch,
  offset,
  recovered,
  publications: publications.map((o) => ({ offset: o, data: o, time: 0 })),
});

describe('Channel delivery', () => {
  test('drops a publication whose offset is not past the last delivered one', () => {
    const { channel, offsets } = setup();
    void channel.subscribe();
    channel.subscribed(result('e', 3));
    for (const o of [4, 4, 3, 5, 2, 6]) channel.publication(pub(o));
    assert.deepEqual(offsets, [4, 5, 6]);
  });

  test('after a reconnect, recovers from its position: replay first, then live, nothing twice', () => {
    const { channel, offsets } = setup();
    void channel.subscribe();
    channel.subscribed(result('e', 0));
    channel.publication(pub(1));
    channel.publication(pub(2));
    channel.connectionLost();
    assert.equal(channel.state, 'subscribing');
    assert.deepEqual(channel.subscribeFields(), { recover: { epoch: 'e', offset: 2 } });
    channel.publication(pub(3)); // not subscribed now: dropped
    channel.subscribed(result('e', 5, [2, 3, 4, 5], true));
    channel.publication(pub(5));
    channel.publication(pub(6));
    assert.deepEqual(offsets, [1, 2, 3, 4, 5, 6]);
  });

  test('a gap before the replay moves the position past the lost range', () => {
    const { channel, offsets, gaps } = setup();
    void channel.subscribe();
    channel.subscribed(result('e', 1));
    channel.connectionLost();
    channel.subscribeFields();
    channel.gap({ type: 'gap', channel: 'chat:a', fromOffset: 2, toOffset: 8, epochChanged: false });
    channel.subscribed(result('e', 10, [9, 10]));
    assert.deepEqual(offsets, [9, 10]);
    assert.deepEqual(gaps, [{ fromOffset: 2, toOffset: 8, epochChanged: false }]);
  });

  test('an epoch change during recovery delivers the new stream from its start', () => {
    const { channel, offsets, gaps } = setup();
    void channel.subscribe();
    channel.subscribed(result('old', 40));
    channel.connectionLost();
    channel.subscribeFields();
    channel.gap({ type: 'gap', channel: 'chat:a', fromOffset: 1, toOffset: 0, epochChanged: true });
    channel.subscribed(result('new', 3, [1, 2, 3]));
    channel.publication(pub(4));
    assert.deepEqual(offsets, [1, 2, 3, 4]);
    assert.equal(gaps.length, 1);
    assert.deepEqual(channel.position, { epoch: 'new', offset: 4 });
  });

  test('a live epoch change is followed, and a later recovery does not deliver the new stream twice', () => {
    const { channel, offsets } = setup();
    void channel.subscribe();
    channel.subscribed(result('old', 40));
    channel.gap({ type: 'gap', channel: 'chat:a', fromOffset: 1, toOffset: 0, epochChanged: true });
    channel.publication(pub(1));
    channel.publication(pub(2));
    channel.connectionLost();
    channel.subscribeFields();
    // The hub does not know 'old': it reports the epoch change again and replays the new stream.
    channel.gap({ type: 'gap', channel: 'chat:a', fromOffset: 1, toOffset: 0, epochChanged: true });
    channel.subscribed(result('new', 3, [1, 2, 3]));
    assert.deepEqual(offsets, [1, 2, 3]);
    assert.deepEqual(channel.position, { epoch: 'new', offset: 3 });
  });

  test('reports a jump in offsets that the hub did not announce as a gap', () => {
    const { channel, offsets, gaps } = setup();
    void channel.subscribe();
    channel.subscribed(result('e', 1));
    channel.publication(pub(2));
    channel.publication(pub(5));
    assert.deepEqual(offsets, [2, 5]);
    assert.deepEqual(gaps, [{ fromOffset: 3, toOffset: 4, epochChanged: false }]);
  });

  test('without history (epoch ""), every publication is delivered', () => {
    const { channel, offsets } = setup();
    void channel.subscribe();
    channel.subscribed(result('', 0));
    for (let i = 0; i < 3; i++) channel.publication(pub(0));
    assert.deepEqual(offsets, [0, 0, 0]);
    channel.connectionLost();
    assert.deepEqual(channel.subscribeFields(), {}, 'no recovery without history');
  });

  test('subscribe() resolves when subscribed; unsubscribe() first rejects it and forgets the position', async () => {
    const { channel } = setup(false);
    const first = channel.subscribe();
    channel.subscribed(result('e', 1));
    await first;
    await channel.unsubscribe();
    assert.equal(channel.position, null);
    const second = channel.subscribe();
    await channel.unsubscribe();
    await assert.rejects(second, (e: { code: string }) => e.code === 'VOLLEY_ERR_UNSUBSCRIBED');
  });

  test('subscribe({ since }) resumes from a saved position', () => {
    const { channel, subscribes } = setup();
    void channel.subscribe({ since: { epoch: 'e', offset: 12 } });
    assert.deepEqual(subscribes, ['chat:a']);
    assert.deepEqual(channel.subscribeFields(), { recover: { epoch: 'e', offset: 12 } });
  });
});
