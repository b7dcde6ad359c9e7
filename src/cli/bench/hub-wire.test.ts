import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { Op } from './frames.js';
import { FIRST_PUBLISH_ID, HUB_CHANNEL, NOT_PUBLICATION, openingCommands, parseReplyHead, publicationStamp } from './hub-wire.js';
import { StampedFrames } from './stamped-frames.js';
import { encodeStamp } from './stamp.js';
import { buildPayload, parseTarget } from './target.js';

const KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/** A publication push as the hub encodes it (field order of `publicationPush`), with a stamped data string. */
function push(offset: number, micros: number, extra = ''): Buffer {
  const stamp = Buffer.alloc(8);
  encodeStamp(micros, stamp);
  return Buffer.from(
    JSON.stringify({ type: 'publication', channel: HUB_CHANNEL, offset, data: `${stamp.toString('latin1')}abcdef${extra}`, info: { clientId: 'c1', userId: '' }, time: 1767139200000 }),
  );
}

describe('publish commands', () => {
  test('are JSON with the stamp at a multiple of 4 and the data string `size` characters long', () => {
    for (const size of [8, 9, 32, 1000]) {
      const layout = buildPayload(size, 'volley-hub');
      assert.equal(layout.stampOffset % 4, 0, `size ${size}`);
      const command = JSON.parse(layout.payload.toString('latin1'));
      assert.deepEqual(Object.keys(command), ['id', 'type', 'channel', 'data']);
      assert.equal(command.id, FIRST_PUBLISH_ID);
      assert.equal(command.type, 'publish');
      assert.equal(command.channel, HUB_CHANNEL);
      assert.equal(command.data.length, size);
      assert.equal(layout.payload.toString('latin1', layout.stampOffset, layout.stampOffset + 8), 'AAAAAAAA');
    }
  });

  test('built in batches carry the batch stamp and ids that count up across batches', () => {
    const layout = buildPayload(32, 'volley-hub');
    const frames = new StampedFrames(Op.TEXT, layout, KEY, 4);
    const batches = [frames.build(3, 123_456_789), frames.build(2, 987_654_321)];
    const seen: Array<[number, string]> = [];
    for (const batch of batches) {
      for (let at = 0; at < batch.length; at += frames.frameLength) {
        const frame = batch.subarray(at, at + frames.frameLength);
        const headerSize = frame.length - layout.payload.length;
        const key = frame.subarray(headerSize - 4, headerSize);
        const payload = Buffer.from(frame.subarray(headerSize).map((b, j) => b ^ key[j & 3]!));
        const command = JSON.parse(payload.toString('latin1'));
        seen.push([command.id, command.data.slice(0, 8)]);
      }
    }
    const stamp = (micros: number) => {
      const out = Buffer.alloc(8);
      encodeStamp(micros, out);
      return out.toString('latin1');
    };
    assert.deepEqual(seen, [
      [FIRST_PUBLISH_ID, stamp(123_456_789)],
      [FIRST_PUBLISH_ID + 1, stamp(123_456_789)],
      [FIRST_PUBLISH_ID + 2, stamp(123_456_789)],
      [FIRST_PUBLISH_ID + 3, stamp(987_654_321)],
      [FIRST_PUBLISH_ID + 4, stamp(987_654_321)],
    ]);
  });

  test('the opening commands are connect, then subscribe to the bench channel for a subscriber', () => {
    assert.deepEqual(openingCommands(false).map((c) => JSON.parse(c.toString('latin1')).type), ['connect']);
    const [connect, subscribe] = openingCommands(true).map((c) => JSON.parse(c.toString('latin1')));
    assert.equal(connect.id, 1);
    assert.deepEqual(subscribe, { id: 2, type: 'subscribe', channel: HUB_CHANNEL });
  });

  test('the upgrade request goes to /ws unless the URL names a path, and offers the JSON subprotocol', () => {
    const target = parseTarget('ws://127.0.0.1:8080/', 'volley-hub');
    assert.equal(target.path, '/ws');
    assert.match(target.request.toString('latin1'), /^GET \/ws HTTP\/1\.1\r\n[^]*\r\nSec-WebSocket-Protocol: volley\.v1\.json\r\n\r\n$/);
    assert.equal(parseTarget('ws://127.0.0.1:8080/hub', 'volley-hub').path, '/hub');
  });
});

describe('publicationStamp', () => {
  test('reads the stamp of a publication push whatever the width of its offset', () => {
    for (const offset of [0, 7, 42, 123_456_789_012]) {
      const bytes = push(offset, 5_000_000 + offset);
      assert.equal(publicationStamp(bytes, 0, bytes.length), 5_000_000 + offset, `offset ${offset}`);
    }
  });

  test('finds the stamp of a publication in another field order, from the bytes at hand', () => {
    const stamp = Buffer.alloc(8);
    encodeStamp(777, stamp);
    const bytes = Buffer.from(`{"type":"publication","offset":3,"channel":"other","data":"${stamp.toString('latin1')}zz","time":1}`);
    assert.equal(publicationStamp(bytes, 0, bytes.length), 777);
    assert.equal(publicationStamp(bytes, 0, 40), -1, 'the data string is not among the first 40 bytes');
  });

  test('reads from a position inside a larger buffer', () => {
    const bytes = Buffer.concat([Buffer.from('garbage'), push(9, 4242)]);
    assert.equal(publicationStamp(bytes, 7, bytes.length - 7), 4242);
  });

  test('tells replies and other pushes apart from publications', () => {
    for (const text of ['{"id":1000000001,"result":{"epoch":"e","offset":9}}', '{"type":"gap","channel":"bench","fromOffset":1,"toOffset":2,"epochChanged":false}', '{"type":"pub']) {
      const bytes = Buffer.from(text);
      assert.equal(publicationStamp(bytes, 0, bytes.length), NOT_PUBLICATION, text);
    }
  });
});

describe('parseReplyHead', () => {
  test('reads the id and outcome of results and errors, and null for pushes', () => {
    assert.deepEqual(parseReplyHead(Buffer.from('{"id":1000000007,"result":{"epoch":"x","offset":1}}')), { id: 1_000_000_007, ok: true, code: '' });
    assert.deepEqual(parseReplyHead(Buffer.from('{"id":2,"error":{"code":"permission_denied","message":"permission denied"}}')), {
      id: 2,
      ok: false,
      code: 'permission_denied',
    });
    assert.deepEqual(parseReplyHead(Buffer.from('{"id":3,"error":{"co')), { id: 3, ok: false, code: '' }, 'a head cut short');
    assert.equal(parseReplyHead(Buffer.from('{"type":"rate_limited","retryAfterMs":100}')), null);
  });
});
