/**
 * Tests of the JSON and MessagePack codecs: frame types, the JSON data model, `__proto__` keys, nesting bombs,
 * MessagePack bytes the decoder must never see, round trips of every reply and push, encode-once sharing,
 * subprotocol choice, and the golden corpus of malicious envelopes (reliability.md L5).
 *
 * @module
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import {
  CODEC_ERROR_CODE,
  CodecError,
  codecFor,
  createCodec,
  encodeOnce,
  encodePublicationPush,
  encodingForSubprotocol,
  jsonCodec,
  msgpackCodec,
  selectSubprotocol,
  type Codec,
  type CodecErrorReason,
} from './codec.js';
import { parseCommand } from './validate.js';
import { HubErrorCode, SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, type Push, type Reply } from './wire.js';

/** A plain MessagePack encoder, as a client in another language would encode (no extensions). */
const pack = (value: unknown): Uint8Array => encode(value);
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const utf8 = (text: string): number[] => [...Buffer.from(text, 'utf8')];

function refuses(codec: Codec, frame: string | Uint8Array, reason: CodecErrorReason, label = ''): CodecError {
  let caught: unknown;
  try {
    codec.decode(frame);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CodecError, `${label}: expected a CodecError, got ${String(caught)}`);
  assert.equal(caught.code, CODEC_ERROR_CODE);
  assert.equal(caught.reason, reason, `${label}: ${caught.message}`);
  return caught;
}

function nestedJson(levels: number, open = '[', close = ']', leaf = '0'): string {
  return open.repeat(levels) + leaf + close.repeat(levels);
}

/** MessagePack of `levels` nested one-element arrays around nil. */
function nestedMsgpack(levels: number): Uint8Array {
  const out = new Uint8Array(levels + 1).fill(0x91);
  out[levels] = 0xc0;
  return out;
}

function prototypeSnapshot(): string {
  return JSON.stringify(Object.getOwnPropertyNames(Object.prototype).sort()) + JSON.stringify(Object.getOwnPropertyNames(Array.prototype).sort());
}

function assertPrototypesIntact(before: string): void {
  assert.equal(prototypeSnapshot(), before);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  assert.equal(([] as unknown as { polluted?: unknown }).polluted, undefined);
  assert.equal(Object.getPrototypeOf({}), Object.prototype);
}

const REPLIES: readonly Reply[] = [
  {
    id: 1,
    result: {
      clientId: 'c1',
      userId: 'alice',
      expiresAt: 1_900_000_000_000,
      pingIntervalMs: 25_000,
      server: { name: 'volley', version: '0.1.0' },
      subscriptions: {
        'chat:a': { epoch: 'e', offset: 2, recovered: true, publications: [{ offset: 2, data: 'x', time: 5 }] },
        'chat:b': { error: { code: HubErrorCode.PERMISSION_DENIED, message: 'no' } },
      },
    },
  },
  { id: 2, result: { epoch: 'e', offset: 0, recovered: false, publications: [] } },
  { id: 3, result: { epoch: 'e', offset: 7 } },
  { id: 4, result: { clients: 2, users: 1, members: [{ clientId: 'c1', userId: 'u' }, { clientId: 'c2', userId: 'u', data: { s: 1 } }] } },
  { id: 5, result: { epoch: 'e', offset: 9, publications: [{ offset: 9, data: [1, { a: null }], info: { clientId: 'c', userId: '' }, time: 1 }] } },
  { id: 6, result: { anything: [1.5, -2, 2 ** 40, 'é😀', true, null] } },
  { id: 7, result: {} },
  { id: 8, error: { code: HubErrorCode.RATE_LIMITED, message: 'slow down', retryAfterMs: 250 } },
  ...Object.values(HubErrorCode).map((code, i) => ({ id: 100 + i, error: { code, message: code } })),
];

const PUSHES: readonly Push[] = [
  { type: 'publication', channel: 'chat:a', offset: 3, data: { text: 'hi' }, info: { clientId: 'c', userId: 'u', data: [1] }, time: 1_700_000_000_000 },
  { type: 'publication', channel: 'chat:a', offset: 0, data: null, time: 0 },
  { type: 'join', channel: 'chat:a', info: { clientId: 'c', userId: 'u' } },
  { type: 'leave', channel: 'chat:a', info: { clientId: 'c', userId: '' } },
  { type: 'gap', channel: 'chat:a', fromOffset: 4, toOffset: 9, epochChanged: false },
  { type: 'rate_limited', retryAfterMs: 1000 },
  { type: 'disconnect', code: 4001, reason: 'rate limited', reconnect: true, reconnectAfterMs: 5000 },
  { type: 'disconnect', code: 4501, reason: 'bad request', reconnect: false },
  { type: 'unsubscribed', channel: 'chat:a', reason: 'permission revoked' },
  { type: 'subscribed', channel: 'chat:a', epoch: 'e', offset: 12 },
];

describe('jsonCodec', () => {
  test('decodes a text message into JSON data', () => {
    assert.deepEqual(jsonCodec.decode('{"id":1,"type":"ping"}'), { id: 1, type: 'ping' });
    assert.deepEqual(jsonCodec.decode(' [1, "a", null, true, {"b": 2.5}] '), [1, 'a', null, true, { b: 2.5 }]);
    assert.equal(jsonCodec.encoding, 'json');
  });

  test('refuses a binary message', () => {
    refuses(jsonCodec, Buffer.from('{"id":1,"type":"ping"}'), 'frame_type');
    refuses(jsonCodec, new Uint8Array(0), 'frame_type');
  });

  test('refuses invalid JSON without quoting it', () => {
    for (const text of ['', ' ', '{', '{"id":1,}', "{'id':1}", '{"id":1} x', 'NaN', 'undefined', '{"a":01}', '"\\x"', '[1]]']) {
      const error = refuses(jsonCodec, text, 'syntax', text);
      assert.equal(error.message, 'not valid JSON');
    }
  });

  test('refuses every strict prefix of a valid message', () => {
    const text = '{"id":12,"type":"publish","channel":"a:b","data":{"t":"x\\"y","n":[1,2.5e3,null]}}';
    for (let i = 0; i < text.length; i++) {
      assert.throws(() => jsonCodec.decode(text.slice(0, i)), CodecError, `prefix ${i}`);
    }
    assert.ok(jsonCodec.decode(text));
  });

  test('accepts maxDepth levels of nesting and refuses one more', () => {
    assert.ok(jsonCodec.decode(nestedJson(64)));
    refuses(jsonCodec, nestedJson(65), 'too_deep');
    assert.ok(jsonCodec.decode(nestedJson(63, '{"a":', '}')));
    refuses(jsonCodec, nestedJson(65, '{"a":', '}'), 'too_deep');
    const codec = createCodec('json', { maxDepth: 2 });
    assert.ok(codec.decode('{"a":[1]}'));
    refuses(codec, '{"a":[[1]]}', 'too_deep');
  });

  test('refuses 100,000 and 500,000 levels of nesting quickly, without overflowing the stack', () => {
    for (const levels of [100_000, 500_000]) {
      for (const [open, close] of [['[', ']'], ['{"a":', '}']] as const) {
        const text = nestedJson(levels, open, close);
        const started = performance.now();
        refuses(jsonCodec, text, 'too_deep');
        assert.ok(performance.now() - started < 100, `${levels} levels took ${performance.now() - started} ms`);
      }
    }
    refuses(jsonCodec, '['.repeat(1_000_000), 'too_deep');
  });

  test('does not count brackets inside strings, escaped quotes included', () => {
    const codec = createCodec('json', { maxDepth: 2 });
    assert.deepEqual(codec.decode(`{"a":"${'['.repeat(100_000)}"}`), { a: '['.repeat(100_000) });
    assert.deepEqual(codec.decode('{"a":"\\"[[[[{{{{"}'), { a: '"[[[[{{{{' });
    assert.deepEqual(codec.decode('{"a":"\\\\","b":"[[["}'), { a: '\\', b: '[[[' });
    refuses(codec, '{"a":"\\\\","b":[[[1]]]}', 'too_deep');
    refuses(codec, '{"a":"\\\\\\"","b":[[[1]]]}', 'too_deep');
  });

  test('refuses an object key __proto__ at any depth, however it is spelled', () => {
    const before = prototypeSnapshot();
    for (const text of [
      '{"__proto__":{"polluted":1},"id":1,"type":"ping"}',
      '{"id":1,"type":"publish","channel":"a","data":{"__proto__":{"polluted":1}}}',
      '{"id":1,"type":"publish","channel":"a","data":[1,[{"x":{"__proto__":[]}}]]}',
      '{"id":1,"type":"ping","\\u005f_proto__":{"polluted":1}}',
      '{"id":1,"type":"ping","__pro\\u0074o__":null}',
    ]) {
      const error = refuses(jsonCodec, text, 'forbidden_key', text);
      assert.equal(error.message, 'the message has the object key "__proto__"');
    }
    assertPrototypesIntact(before);
  });

  test('keeps constructor and prototype keys as own data that copies cannot turn into prototypes', () => {
    const before = prototypeSnapshot();
    const value = jsonCodec.decode('{"constructor":{"prototype":{"polluted":1}},"prototype":{"polluted":1},"toString":1,"hasOwnProperty":2}') as Record<string, unknown>;
    assert.deepEqual(Object.keys(value), ['constructor', 'prototype', 'toString', 'hasOwnProperty']);
    const spread = { ...value };
    const assigned = Object.assign({}, value);
    assert.equal(Object.getPrototypeOf(spread), Object.prototype);
    assert.equal(Object.getPrototypeOf(assigned), Object.prototype);
    assertPrototypesIntact(before);
  });

  test('accepts "__proto__" as a string value', () => {
    assert.deepEqual(jsonCodec.decode('{"a":"__proto__","b":["__proto__"]}'), { a: '__proto__', b: ['__proto__'] });
  });

  test('refuses numbers that overflow to Infinity', () => {
    refuses(jsonCodec, '{"id":1e400,"type":"ping"}', 'unsupported_value');
    refuses(jsonCodec, `[${'9'.repeat(400)}]`, 'unsupported_value');
    refuses(jsonCodec, '-1e999', 'unsupported_value');
    assert.equal(jsonCodec.decode('1e308'), 1e308);
  });

  test('refuses lone surrogates in strings and keys, and accepts pairs', () => {
    refuses(jsonCodec, '["\\ud800"]', 'unsupported_value');
    refuses(jsonCodec, '{"\\udc00":1}', 'unsupported_value');
    refuses(jsonCodec, '"a\\udc00\\ud800"', 'unsupported_value');
    assert.equal(jsonCodec.decode('"\\ud83d\\ude00"'), '😀');
  });

  test('encodes replies and pushes as JSON text that decodes to the same message', () => {
    for (const message of [...REPLIES, ...PUSHES]) {
      const text = jsonCodec.encode(message);
      assert.equal(typeof text, 'string');
      assert.deepEqual(jsonCodec.decode(text), message);
    }
  });
});

describe('msgpackCodec', () => {
  test('decodes a binary message into JSON data', () => {
    assert.deepEqual(msgpackCodec.decode(pack({ id: 1, type: 'ping' })), { id: 1, type: 'ping' });
    assert.deepEqual(msgpackCodec.decode(pack([1, -1, 2.5, 'é', null, true, false, {}, []])), [1, -1, 2.5, 'é', null, true, false, {}, []]);
    assert.equal(msgpackCodec.encoding, 'msgpack');
  });

  test('refuses a text message', () => {
    refuses(msgpackCodec, '{"id":1,"type":"ping"}', 'frame_type');
    refuses(msgpackCodec, '', 'frame_type');
  });

  test('round-trips every reply and push type', () => {
    for (const message of [...REPLIES, ...PUSHES]) {
      const frame = msgpackCodec.encode(message);
      assert.ok(frame instanceof Uint8Array);
      assert.deepEqual(msgpackCodec.decode(frame), message);
    }
  });

  test('decodes what it encodes identically to the JSON codec', () => {
    for (const message of [...REPLIES, ...PUSHES]) {
      assert.deepEqual(msgpackCodec.decode(msgpackCodec.encode(message) as Uint8Array), jsonCodec.decode(jsonCodec.encode(message) as string));
    }
  });

  test('skips undefined properties and encodes undefined array items as nil, like JSON', () => {
    const message = { id: 1, result: { a: undefined, b: [undefined, 1] } } as Reply;
    assert.deepEqual(msgpackCodec.decode(msgpackCodec.encode(message) as Uint8Array), { id: 1, result: { b: [null, 1] } });
    assert.deepEqual(jsonCodec.decode(jsonCodec.encode(message) as string), { id: 1, result: { b: [null, 1] } });
  });

  test('encodes objects with a null prototype like plain objects, in both encodings', () => {
    const subscriptions = Object.assign(Object.create(null) as object, { 'chat:a': { epoch: 'e', offset: 1, recovered: true, publications: [] }, skipped: undefined });
    const message: Reply = { id: 1, result: { subscriptions } };
    const expected = { id: 1, result: { subscriptions: { 'chat:a': { epoch: 'e', offset: 1, recovered: true, publications: [] } } } };
    assert.deepEqual(msgpackCodec.decode(msgpackCodec.encode(message) as Uint8Array), expected);
    assert.deepEqual(jsonCodec.decode(jsonCodec.encode(message) as string), expected);
  });

  test('encodes objects of more than 65,535 keys as map 32', () => {
    const result = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]));
    const frame = msgpackCodec.encode({ id: 1, result }) as Uint8Array;
    assert.deepEqual(msgpackCodec.decode(frame), { id: 1, result });
  });

  test('encodes into an exact-size buffer that later encodes never overwrite', () => {
    const first = msgpackCodec.encode(PUSHES[0]!) as Uint8Array;
    const copy = Uint8Array.from(first);
    assert.equal(first.byteOffset, 0);
    assert.equal(first.buffer.byteLength, first.byteLength);
    for (const push of PUSHES) msgpackCodec.encode(push);
    assert.deepEqual(first, copy);
  });

  test('refuses every strict prefix of a valid message and trailing bytes', () => {
    const frame = pack({ id: 12, type: 'publish', channel: 'a:b', data: { t: 'x'.repeat(40), n: [1, 2.5, -300, 70_000, 2 ** 40, null] } });
    for (let i = 0; i < frame.length; i++) refuses(msgpackCodec, frame.subarray(0, i), 'syntax', `prefix ${i}`);
    refuses(msgpackCodec, Buffer.concat([frame, bytes(0xc0)]), 'syntax');
    refuses(msgpackCodec, bytes(0xc0, 0xc0), 'syntax');
  });

  test('refuses the never-used byte 0xc1', () => {
    refuses(msgpackCodec, bytes(0xc1), 'syntax');
    refuses(msgpackCodec, bytes(0x91, 0xc1), 'syntax');
  });

  test('refuses binaries and every extension type, timestamps and undefined included', () => {
    for (const frame of [
      pack(Buffer.from('ab')),
      bytes(0xc4, 0),
      bytes(0xc5, 0, 0),
      bytes(0xc6, 0, 0, 0, 0),
      bytes(0xd4, 0, 0), // an extension type (msgpackr uses it for undefined)
      pack(new Date(0)), // timestamp extension -1
      bytes(0xd5, 1, 0, 0),
      bytes(0xd6, 0xff, 0, 0, 0, 0),
      bytes(0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 0),
      bytes(0xd8, 1, ...new Array<number>(16).fill(0)),
      bytes(0xc7, 1, 0x72, 0),
      bytes(0xc8, 0, 1, 0x72, 0),
      bytes(0xc9, 0, 0, 0, 1, 0x72, 0),
      bytes(0x92, 0xd4, 0x72, 0x00, 0xd4, 0x72, 0x01), // records-style extensions inside an array
    ]) {
      refuses(msgpackCodec, frame, 'unsupported_value', Buffer.from(frame).toString('hex'));
    }
  });

  test('refuses map keys that are not strings', () => {
    for (const key of [[0x01], [0xc0], [0xc3], [0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0], [0x90], [0x80]]) {
      refuses(msgpackCodec, bytes(0x81, ...key, 0x01), 'unsupported_value', key.join(','));
    }
  });

  test('refuses the key __proto__ in any map, and accepts it as a value', () => {
    const before = prototypeSnapshot();
    const proto = [0xa9, ...utf8('__proto__')];
    refuses(msgpackCodec, bytes(0x81, ...proto, 0x81, 0xa8, ...utf8('polluted'), 0xc3), 'forbidden_key');
    refuses(msgpackCodec, bytes(0x81, 0xd9, 9, ...utf8('__proto__'), 0xc0), 'forbidden_key'); // as str 8
    refuses(msgpackCodec, pack(JSON.parse('{"id":1,"type":"publish","channel":"a","data":[{"__proto__":{"polluted":1}}]}')), 'forbidden_key');
    assert.deepEqual(msgpackCodec.decode(bytes(0x81, 0xa1, 0x61, ...proto)), { a: '__proto__' });
    assert.deepEqual(msgpackCodec.decode(bytes(0x81, 0xa8, ...utf8('__proto_'), 0xc0)), { __proto_: null });
    assertPrototypesIntact(before);
  });

  test('refuses strings that are not valid UTF-8, in values and keys', () => {
    refuses(msgpackCodec, bytes(0xa2, 0xc3, 0x28), 'unsupported_value');
    refuses(msgpackCodec, bytes(0xa3, 0xed, 0xa0, 0x80), 'unsupported_value'); // an encoded surrogate
    refuses(msgpackCodec, bytes(0x81, 0xa1, 0xff, 0xc0), 'unsupported_value');
    assert.equal(msgpackCodec.decode(bytes(0xa2, 0xc3, 0xa9)), 'é');
  });

  test('refuses non-finite floats', () => {
    for (const value of [NaN, Infinity, -Infinity]) {
      const f64 = new Uint8Array(9);
      f64[0] = 0xcb;
      new DataView(f64.buffer).setFloat64(1, value);
      refuses(msgpackCodec, f64, 'unsupported_value');
      const f32 = new Uint8Array(5);
      f32[0] = 0xca;
      new DataView(f32.buffer).setFloat32(1, value);
      refuses(msgpackCodec, f32, 'unsupported_value');
    }
  });

  test('decodes 64-bit integers as numbers, rounding beyond 2^53 as JSON does', () => {
    assert.equal(msgpackCodec.decode(bytes(0xcf, 0, 0, 0, 0, 0, 0, 0, 5)), 5);
    assert.equal(msgpackCodec.decode(bytes(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe)), -2);
    const big = msgpackCodec.decode(bytes(0xcf, 0, 0x20, 0, 0, 0, 0, 0, 1));
    assert.equal(typeof big, 'number');
    assert.equal(big, 2 ** 53);
    const parsed = parseCommand(msgpackCodec.decode(pack({ id: 2 ** 53, type: 'ping' })));
    assert.deepEqual(parsed.ok ? null : parsed.id, null);
  });

  test('refuses container lengths larger than the frame before allocating', () => {
    for (const frame of [
      bytes(0xdd, 0xff, 0xff, 0xff, 0xff),
      bytes(0xdf, 0xff, 0xff, 0xff, 0xff),
      bytes(0xdc, 0xff, 0xff, 0xc0),
      bytes(0xde, 0x00, 0x02, 0xa1, 0x61, 0xc0),
      bytes(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61),
      bytes(0x9f, 0xc0),
    ]) {
      const started = performance.now();
      refuses(msgpackCodec, frame, 'syntax', Buffer.from(frame).toString('hex'));
      assert.ok(performance.now() - started < 50);
    }
  });

  test('accepts maxDepth levels of nesting and refuses one more, empty containers included', () => {
    assert.ok(msgpackCodec.decode(nestedMsgpack(64)));
    refuses(msgpackCodec, nestedMsgpack(65), 'too_deep');
    const emptyAt65 = new Uint8Array(65).fill(0x91);
    emptyAt65[64] = 0x90;
    refuses(msgpackCodec, emptyAt65, 'too_deep');
    const codec = createCodec('msgpack', { maxDepth: 2 });
    assert.deepEqual(codec.decode(pack({ a: [1] })), { a: [1] });
    refuses(codec, pack({ a: [{}] }), 'too_deep');
  });

  test('refuses 100,000 levels of nesting without overflowing the stack', () => {
    const started = performance.now();
    refuses(msgpackCodec, nestedMsgpack(100_000), 'too_deep');
    refuses(msgpackCodec, new Uint8Array(1_000_000).fill(0x81 /* map of one entry… with no string key */), 'unsupported_value');
    const maps = new Uint8Array(300_000);
    for (let i = 0; i < maps.length; i += 3) maps.set([0x81, 0xa1, 0x61], i);
    refuses(msgpackCodec, maps, 'too_deep');
    assert.ok(performance.now() - started < 200);
  });

  test('keeps decoding correctly after refusing malformed frames', () => {
    const good = pack({ id: 1, type: 'subscribe', channel: 'chat:a' });
    for (const bad of [bytes(0xc1), bytes(0x92, 0xc0), bytes(0xd4, 0, 0), nestedMsgpack(100)]) {
      assert.throws(() => msgpackCodec.decode(bad), CodecError);
      assert.deepEqual(msgpackCodec.decode(good), { id: 1, type: 'subscribe', channel: 'chat:a' });
    }
  });
});

describe('codecFor and createCodec', () => {
  test('returns the shared default codecs', () => {
    assert.equal(codecFor('json'), jsonCodec);
    assert.equal(codecFor('msgpack'), msgpackCodec);
    assert.equal(codecFor('json', { maxDepth: 64 }), jsonCodec);
  });

  test('creates a codec with another maxDepth when asked', () => {
    const codec = codecFor('json', { maxDepth: 3 });
    assert.notEqual(codec, jsonCodec);
    refuses(codec, nestedJson(4), 'too_deep');
  });

  test('throws for an invalid maxDepth or an unknown encoding', () => {
    for (const maxDepth of [0, -1, 1.5, NaN]) assert.throws(() => createCodec('json', { maxDepth }), { code: 'VOLLEY_ERR_INVALID_ARGUMENT' });
    assert.throws(() => createCodec('xml' as 'json'), { code: 'VOLLEY_ERR_INVALID_ARGUMENT' });
    assert.throws(() => codecFor('xml' as 'json'), { code: 'VOLLEY_ERR_INVALID_ARGUMENT' });
  });
});

describe('selectSubprotocol', () => {
  test('picks the first of the client offers that the hub speaks', () => {
    assert.equal(selectSubprotocol([SUBPROTOCOL_MSGPACK, SUBPROTOCOL_JSON]), SUBPROTOCOL_MSGPACK);
    assert.equal(selectSubprotocol([SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK]), SUBPROTOCOL_JSON);
    assert.equal(selectSubprotocol(['mqtt', 'volley.v2.json', SUBPROTOCOL_MSGPACK]), SUBPROTOCOL_MSGPACK);
  });

  test('answers false (no header, JSON) when the client offers none of them', () => {
    assert.equal(selectSubprotocol([]), false);
    assert.equal(selectSubprotocol(['mqtt', 'volley.v2.json', 'VOLLEY.V1.JSON', ' volley.v1.json', '__proto__']), false);
    assert.equal(encodingForSubprotocol(false), 'json');
  });

  test('maps subprotocols to encodings', () => {
    assert.equal(encodingForSubprotocol(SUBPROTOCOL_MSGPACK), 'msgpack');
    assert.equal(encodingForSubprotocol(SUBPROTOCOL_JSON), 'json');
    assert.equal(encodingForSubprotocol(undefined), 'json');
  });
});

describe('encodeOnce', () => {
  test('encodes lazily, at most once per encoding, and hands out the same string and bytes', () => {
    let reads = 0;
    const push = {
      type: 'publication',
      channel: 'chat:a',
      offset: 1,
      get data() {
        reads++;
        return { text: 'hi' };
      },
      time: 5,
    } as Push;
    const shared = encodeOnce(push);
    assert.equal(reads, 0);
    const text = shared.json();
    const afterJson = reads;
    assert.ok(afterJson > 0);
    assert.equal(shared.json(), text);
    assert.equal(shared.get('json'), text);
    assert.equal(reads, afterJson);
    const frame = shared.msgpack();
    const afterMsgpack = reads;
    assert.ok(afterMsgpack > afterJson);
    assert.equal(shared.msgpack(), frame);
    assert.equal(shared.get('msgpack'), frame);
    assert.equal(reads, afterMsgpack);
    assert.deepEqual(msgpackCodec.decode(frame), jsonCodec.decode(text));
  });

  test('encodes the same bytes as the codecs', () => {
    for (const push of PUSHES) {
      const shared = encodeOnce(push);
      assert.equal(shared.json(), jsonCodec.encode(push));
      assert.deepEqual(shared.msgpack(), msgpackCodec.encode(push));
    }
  });

  test('builds publication pushes with info only when the publication has one', () => {
    const bare = encodePublicationPush('chat:a', { offset: 4, data: [1], time: 9 });
    assert.deepEqual(JSON.parse(bare.json()), { type: 'publication', channel: 'chat:a', offset: 4, data: [1], time: 9 });
    assert.ok(!bare.json().includes('info'));
    const info = { clientId: 'c', userId: 'u' };
    const full = encodePublicationPush('chat:a', { offset: 5, data: null, info, time: 9 });
    assert.deepEqual(msgpackCodec.decode(full.msgpack()), { type: 'publication', channel: 'chat:a', offset: 5, data: null, info, time: 9 });
  });
});

// ------------------------------------------------------------------------------------------ golden corpus

type Outcome = 'codec' | 'disconnect' | 'reply' | 'accepted';

interface Envelope {
  readonly name: string;
  readonly json: string;
  readonly expect: Outcome;
  /** MessagePack frame when it cannot be made by packing JSON.parse(json) (msgpackr's encoder recurses). */
  readonly msgpack?: Uint8Array;
}

const deepData = nestedJson(100_000);
const wideArray = `[${new Array<string>(200_000).fill('0').join(',')}]`;

/** Malicious envelopes of reliability.md L5 and the CVEs of class 11, each with the expected outcome. */
const CORPUS: readonly Envelope[] = [
  { name: '__proto__ key in the envelope', json: '{"__proto__":{"polluted":1},"id":1,"type":"ping"}', expect: 'codec' },
  { name: '__proto__ key in data', json: '{"id":1,"type":"publish","channel":"a","data":{"__proto__":{"polluted":1}}}', expect: 'codec' },
  { name: '__proto__ as a subscriptions channel', json: '{"id":1,"type":"connect","subscriptions":{"__proto__":{}}}', expect: 'codec' },
  { name: 'constructor.prototype in data (opaque data, never merged)', json: '{"id":1,"type":"publish","channel":"a","data":{"constructor":{"prototype":{"polluted":1}}}}', expect: 'accepted' },
  { name: 'constructor field in the envelope', json: '{"id":1,"type":"ping","constructor":{"prototype":{"polluted":1}}}', expect: 'reply' },
  { name: 'type named constructor', json: '{"id":1,"type":"constructor"}', expect: 'reply' },
  { name: 'type named __proto__', json: '{"id":1,"type":"__proto__"}', expect: 'reply' },
  { name: 'type named toString', json: '{"id":1,"type":"toString"}', expect: 'reply' },
  { name: 'id object with toString (CVE-2023-32695)', json: '{"id":{"toString":"foo"},"type":"ping"}', expect: 'disconnect' },
  { name: 'channel object with toString (CVE-2023-32695)', json: '{"id":1,"type":"publish","channel":{"toString":"foo"},"data":1}', expect: 'reply' },
  { name: 'toString field (CVE-2023-32695)', json: '{"id":1,"type":"ping","toString":"foo"}', expect: 'reply' },
  { name: 'hasOwnProperty field', json: '{"id":1,"type":"ping","hasOwnProperty":1}', expect: 'reply' },
  { name: 'reserved channel "error" (CVE-2024-38355)', json: '{"id":1,"type":"subscribe","channel":"error"}', expect: 'reply' },
  { name: 'reserved channel "newListener"', json: '{"id":1,"type":"subscribe","channel":"newListener"}', expect: 'reply' },
  { name: 'reserved namespace "constructor"', json: '{"id":1,"type":"publish","channel":"constructor:x","data":1}', expect: 'reply' },
  { name: 'reserved subscriptions channel', json: '{"id":1,"type":"connect","subscriptions":{"hasOwnProperty":{}}}', expect: 'reply' },
  { name: 'reserved rpc method', json: '{"id":1,"type":"rpc","method":"__defineGetter__"}', expect: 'reply' },
  { name: 'channel as an array', json: '{"id":1,"type":"subscribe","channel":["a"]}', expect: 'reply' },
  { name: 'channel with NUL', json: '{"id":1,"type":"subscribe","channel":"a\\u0000b"}', expect: 'reply' },
  { name: 'channel with a bidi override', json: '{"id":1,"type":"subscribe","channel":"a\\u202eb"}', expect: 'reply' },
  { name: 'channel of 100,000 characters', json: `{"id":1,"type":"subscribe","channel":"${'a'.repeat(100_000)}"}`, expect: 'reply' },
  { name: 'string id', json: '{"id":"1","type":"ping"}', expect: 'disconnect' },
  { name: 'huge numeric-string id (CVE-2020-36049)', json: `{"id":"${'2'.repeat(100_000)}","type":"ping"}`, expect: 'disconnect' },
  { name: 'huge numeric type', json: `{"id":1,"type":${'2'.repeat(300)}}`, expect: 'reply' },
  { name: 'id beyond 2^53', json: '{"id":99999999999999999999,"type":"ping"}', expect: 'disconnect' },
  { name: 'id overflowing to Infinity', json: '{"id":1e400,"type":"ping"}', expect: 'codec' },
  { name: 'negative id', json: '{"id":-1,"type":"ping"}', expect: 'disconnect' },
  { name: 'fractional id', json: '{"id":1.5,"type":"ping"}', expect: 'disconnect' },
  { name: 'array envelope (socket.io style)', json: '[1,"ping"]', expect: 'disconnect' },
  { name: 'string envelope', json: '"2[\\"error\\"]"', expect: 'disconnect' },
  { name: 'null envelope', json: 'null', expect: 'disconnect' },
  { name: 'binary placeholder with num "splice" (CVE-2022-2421) is opaque data', json: '{"id":1,"type":"publish","channel":"a","data":{"_placeholder":true,"num":"splice"}}', expect: 'accepted' },
  { name: 'binary placeholder as an envelope field', json: '{"id":1,"type":"publish","channel":"a","data":1,"attachments":99999}', expect: 'reply' },
  { name: '100,000-level nesting in data', json: `{"id":1,"type":"publish","channel":"a","data":${deepData}}`, expect: 'codec', msgpack: Uint8Array.from([0x84, 0xa2, ...utf8('id'), 0x01, 0xa4, ...utf8('type'), 0xa7, ...utf8('publish'), 0xa7, ...utf8('channel'), 0xa1, 0x61, 0xa4, ...utf8('data'), ...nestedMsgpack(100_000)]) },
  { name: '200,000-element array in data (bounded by the frame size only)', json: `{"id":1,"type":"publish","channel":"a","data":${wideArray}}`, expect: 'accepted' },
  { name: 'recover with a negative offset', json: '{"id":1,"type":"subscribe","channel":"a","recover":{"epoch":"e","offset":-1}}', expect: 'reply' },
  { name: 'recover epoch as an object with length', json: '{"id":1,"type":"subscribe","channel":"a","recover":{"epoch":{"length":1},"offset":1}}', expect: 'reply' },
  { name: 'duplicate type keys (last wins)', json: '{"id":1,"type":"ping","type":"publish"}', expect: 'reply' },
  { name: 'limit as a numeric string', json: '{"id":1,"type":"history","channel":"a","limit":"1e9"}', expect: 'reply' },
  { name: 'data undefined-like sentinel', json: '{"id":1,"type":"publish","channel":"a"}', expect: 'reply' },
];

function outcomeOf(codec: Codec, frame: string | Uint8Array): Outcome {
  let value: unknown;
  try {
    value = codec.decode(frame);
  } catch (error) {
    assert.ok(error instanceof CodecError, `unexpected ${String(error)}`);
    return 'codec';
  }
  const parsed = parseCommand(value);
  if (parsed.ok) return 'accepted';
  return parsed.id === null ? 'disconnect' : 'reply';
}

describe('golden corpus of malicious envelopes (reliability.md L5)', () => {
  for (const [codec, frameOf] of [
    [jsonCodec, (envelope: Envelope) => envelope.json],
    [msgpackCodec, (envelope: Envelope) => envelope.msgpack ?? pack(JSON.parse(envelope.json))],
  ] as const) {
    test(`${codec.encoding}: each envelope gets its expected outcome, no exception escapes and no prototype changes`, () => {
      const before = prototypeSnapshot();
      for (const envelope of CORPUS) {
        const frame = frameOf(envelope);
        const started = performance.now();
        assert.equal(outcomeOf(codec, frame), envelope.expect, envelope.name);
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 250, `${envelope.name} took ${elapsed.toFixed(1)} ms`);
        assertPrototypesIntact(before);
      }
    });
  }

  test('a message spread or assigned after decoding never changes a prototype', () => {
    const before = prototypeSnapshot();
    for (const envelope of CORPUS) {
      let value: unknown;
      try {
        value = jsonCodec.decode(envelope.json);
      } catch {
        continue;
      }
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        const merged = Object.assign({}, value, { ...value });
        assert.equal(Object.getPrototypeOf(merged), Object.prototype, envelope.name);
      }
    }
    assertPrototypesIntact(before);
  });
});

// --------------------------------------------------------------------------------------------- parse time

const MiB = 1024 * 1024;

/** 1 MiB frames of different shapes, as JSON text (all valid commands or close to it). */
function largeFrames(): Array<[string, string]> {
  const prefix = '{"id":1,"type":"publish","channel":"a","data":';
  const fill = (unit: string, open: string, close: string): string => {
    const count = Math.floor((MiB - prefix.length - 2 - open.length - close.length) / (unit.length + 1));
    return `${prefix}${open}${new Array<string>(count).fill(unit).join(',')}${close}}`;
  };
  return [
    ['one long string', `${prefix}"${'x'.repeat(MiB - prefix.length - 3)}"}`],
    ['a string of escapes and brackets', `${prefix}"${'\\"[{'.repeat(Math.floor((MiB - prefix.length - 3) / 4))}"}`],
    ['an array of small numbers', fill('7', '[', ']')],
    ['an array of empty arrays', fill('[]', '[', ']')],
    ['an array of small objects', fill('{"k":1}', '[', ']')],
    ['an object of many keys', `${prefix}{${Array.from({ length: Math.floor((MiB - 80) / 13) }, (_, i) => `"k${i.toString(36).padStart(6, '0')}":0`).join(',')}}}`],
    ['maximal nesting', `${prefix}${nestedJson(63)}}`],
    ['half a million open brackets', `${prefix}${'['.repeat(MiB / 2)}`],
  ];
}

describe('parse time', () => {
  test('decodes and validates a 1 MiB frame of any shape in under 500 ms, in both encodings', () => {
    for (const [shape, text] of largeFrames()) {
      assert.ok(Buffer.byteLength(text) <= MiB + 64, `${shape}: ${Buffer.byteLength(text)} bytes`);
      let started = performance.now();
      outcomeOf(jsonCodec, text);
      let elapsed = performance.now() - started;
      assert.ok(elapsed < 500, `json, ${shape}: ${elapsed.toFixed(1)} ms`);
      if (shape === 'half a million open brackets') continue; // not JSON: nothing to pack
      const frame = pack(JSON.parse(text));
      started = performance.now();
      outcomeOf(msgpackCodec, frame);
      elapsed = performance.now() - started;
      assert.ok(elapsed < 500, `msgpack, ${shape}: ${elapsed.toFixed(1)} ms`);
    }
  });

  // One byte per empty map or array is the worst case of MessagePack: a million allocations for 1 MiB (the
  // transport's frame limit, 64 KiB by default, is what bounds it). The bound is loose: GC time under a loaded
  // test run varies; what matters is no super-linear blowup, no pre-sized array and no crash.
  test('decodes a 1 MiB MessagePack frame of one-byte containers in linear time', () => {
    for (const fill of [0x90, 0x80, 0x91, 0xc0]) {
      const frame = new Uint8Array(MiB).fill(fill);
      frame[0] = 0xdd;
      new DataView(frame.buffer).setUint32(1, MiB - 5);
      const started = performance.now();
      const outcome = outcomeOf(msgpackCodec, frame);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 2000, `0x${fill.toString(16)}: ${elapsed.toFixed(1)} ms (${outcome})`);
    }
  });
});
