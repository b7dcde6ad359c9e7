/**
 * Key names and Redis Cluster slots, without Redis: `hashSlot` against the published vectors (cluster.test.ts
 * checks it against `CLUSTER KEYSLOT` too, non-ASCII names included), and every key of a channel sharing one hash
 * tag, whatever its name.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeySpace, hashSlot } from './keys.js';

describe('hashSlot', () => {
  test('matches the CRC16 check value and the examples of the Redis Cluster specification', () => {
    assert.equal(hashSlot('123456789'), 0x31c3); // CRC16-XMODEM's check value, below 16384
    assert.equal(hashSlot('somekey'), 11058);
    assert.equal(hashSlot('foo{hash_tag}'), 2515);
  });

  test('hashes only the first {…} when it is not empty', () => {
    assert.equal(hashSlot('{user1000}.following'), hashSlot('{user1000}.followers'));
    assert.equal(hashSlot('foo{bar}{zap}'), hashSlot('bar'));
    assert.equal(hashSlot('foo{{bar}}zap'), hashSlot('{bar'));
    assert.notEqual(hashSlot('foo{}{bar}'), hashSlot('bar'), 'an empty tag hashes the whole name');
  });
});

describe('KeySpace', () => {
  const keys = new KeySpace('volley:');
  const allKeys = (channel: string) => [
    keys.tag(channel),
    ...Object.values(keys.history(channel)),
    keys.idempotency(channel, 'k'),
    keys.idempotencyWithoutHistory(channel, 'k'),
    ...keys.presence(channel),
  ];

  test('puts every key of a channel in one slot, including names that cannot be a hash tag', () => {
    for (const channel of ['chat:1', 'a{b', '', '}', 'a}b', '{a}', '{}', '}{']) {
      const slots = new Set(allKeys(channel).map(hashSlot));
      assert.equal(slots.size, 1, `${JSON.stringify(channel)}: ${[...slots].join(', ')}`);
    }
  });

  test('keeps the plain form for every other name, and the escaped ones apart from any plain one', () => {
    assert.equal(keys.tag('chat:1'), 'volley:{chat:1}');
    assert.equal(keys.tag('a{b'), 'volley:{a{b}');
    assert.match(keys.tag(''), /^volley:\{[A-Za-z0-9_-]{43}\}~$/);
    assert.notEqual(keys.tag('a}b'), keys.tag('a}c'));
    const escaped = keys.tag('}');
    const digest = escaped.slice('volley:{'.length, -2);
    assert.notEqual(keys.tag(digest), escaped);
  });
});
