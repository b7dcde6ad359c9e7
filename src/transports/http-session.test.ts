/**
 * The pieces the HTTP fallbacks share, alone: session ids, command bodies, origins, the hub message shapes the
 * transports rely on, and the event ids of subscribe-by-URL streams.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { encodeOnce, jsonCodec } from '../hub/codec.js';
import { publicationPush } from '../hub/session.js';
import { disconnectFrame, FallbackError, isDisconnectFrame, newSid, OriginPolicy, parseCommandBody, sidOf, splitUrl } from './http-session.js';
import { decodePositions, encodePositions } from './sse-channels.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('session ids', () => {
  test('are 32 base64url characters (192 bits) and never repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const sid = newSid();
      assert.match(sid, /^[A-Za-z0-9_-]{32}$/);
      seen.add(sid);
    }
    assert.equal(seen.size, 1000);
  });

  test('sidOf takes only what has the shape of a sid', () => {
    const sid = newSid();
    assert.equal(sidOf(new URLSearchParams({ sid })), sid);
    for (const bad of ['', 'short', `${sid}x`, `${sid.slice(0, 31)}!`]) assert.equal(sidOf(new URLSearchParams({ sid: bad })), null);
    assert.equal(sidOf(new URLSearchParams()), null);
  });

  test('splitUrl separates the path from the query', () => {
    const { path, query } = splitUrl('/poll?sid=abc&x=1');
    assert.equal(path, '/poll');
    assert.equal(query.get('sid'), 'abc');
    assert.equal(splitUrl('/sse').path, '/sse');
    assert.equal(splitUrl(undefined).path, '');
  });
});

describe('command bodies', () => {
  test('an array of commands becomes one frame per command, in order', () => {
    assert.deepEqual(parseCommandBody(bytes('[{"id":1,"type":"connect"}, {"id":2,"type":"ping"}]'), 64), ['{"id":1,"type":"connect"}', '{"id":2,"type":"ping"}']);
    assert.deepEqual(parseCommandBody(bytes('[]'), 64), []);
  });

  test('items that are not commands still pass: the session judges them as it judges WebSocket messages', () => {
    assert.deepEqual(parseCommandBody(bytes('[1,"x",null]'), 64), ['1', '"x"', 'null']);
  });

  test('refuses with 400 what is not UTF-8, not JSON, not an array, too deep, or has __proto__', () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array([0x5b, 0xff, 0x5d]), /UTF-8/],
      [bytes(''), /not valid JSON/],
      [bytes('[{"id":1'), /not valid JSON/],
      [bytes('{"id":1,"type":"ping"}'), /array/],
      [bytes('"ping"'), /array/],
      [bytes(`${'['.repeat(6)}${']'.repeat(6)}`), /nests too deeply/],
      [bytes('[{"id":1,"type":"publish","channel":"a","data":{"__proto__":{}}}]'), /__proto__/],
    ];
    for (const [body, message] of cases) {
      assert.throws(
        () => parseCommandBody(body, 4),
        (error: unknown) => error instanceof FallbackError && error.status === 400 && error.code === 'bad_request' && message.test(error.message),
        Buffer.from(body).toString('latin1'),
      );
    }
  });

  test('the depth limit counts from the commands, not the array around them', () => {
    // maxDepth 2: a command object with one nested object is fine; the array adds no level.
    assert.deepEqual(parseCommandBody(bytes('[{"data":{}}]'), 2), ['{"data":{}}']);
    assert.throws(() => parseCommandBody(bytes('[{"data":{"x":[]}}]'), 2), FallbackError);
  });
});

describe('origins', () => {
  const req = (origin?: string): IncomingMessage => ({ headers: origin === undefined ? {} : { origin } }) as IncomingMessage;

  test('without an allowlist: * for any browser origin, nothing for non-browser clients', () => {
    const policy = new OriginPolicy(undefined);
    assert.deepEqual(policy.corsHeaders(req('https://a.example')), { 'access-control-allow-origin': '*' });
    assert.deepEqual(policy.corsHeaders(req()), {});
  });

  test('with an allowlist: exact serialized origins, case-insensitive, default ports folded', () => {
    const policy = new OriginPolicy(['https://App.example', 'http://localhost:3000']);
    assert.deepEqual(policy.corsHeaders(req('https://app.example:443')), { 'access-control-allow-origin': 'https://app.example:443', vary: 'Origin' });
    assert.notEqual(policy.corsHeaders(req('http://LOCALHOST:3000')), null);
    for (const origin of ['https://app.example.evil', 'https://evilapp.example', 'http://app.example', 'https://app.example:8443', 'null', 'https://app.example/']) {
      assert.equal(policy.corsHeaders(req(origin)), null, origin);
    }
    assert.deepEqual(policy.corsHeaders(req()), {});
  });

  test('refuses entries that are not origins', () => {
    assert.throws(() => new OriginPolicy(['app.example']), /not an origin/);
    assert.throws(() => new OriginPolicy(['https://app.example/path']), /not an origin/);
  });
});

describe('hub messages as the transports see them', () => {
  test('the JSON codec writes a disconnect push with "type" first', () => {
    const frame = jsonCodec.encode({ type: 'disconnect', code: 4004, reason: 'x', reconnect: true }) as string;
    assert.equal(isDisconnectFrame(frame), true);
    assert.equal(isDisconnectFrame(jsonCodec.encode({ id: 1, result: {} }) as string), false);
    assert.equal(isDisconnectFrame(jsonCodec.encode({ type: 'publication', channel: 'a', offset: 1, data: 'disconnect', time: 1 }) as string), false);
  });

  test('a made-up disconnect push carries the reconnect advice of its code', () => {
    assert.deepEqual(JSON.parse(disconnectFrame(4000, 'slow')), { type: 'disconnect', code: 4000, reason: 'slow', reconnect: true });
    assert.deepEqual(JSON.parse(disconnectFrame(4504, 'kicked')), { type: 'disconnect', code: 4504, reason: 'kicked', reconnect: false });
    assert.equal(JSON.parse(disconnectFrame(1001, 'bye')).reconnect, true);
  });

  test('publication pushes start with type, channel and offset (the SSE fast path relies on it)', () => {
    const frame = encodeOnce(publicationPush('chat:a', { offset: 7, data: { x: 1 }, info: { clientId: 'c', userId: 'u' }, time: 5 })).json();
    assert.ok(frame.startsWith('{"type":"publication","channel":"chat:a","offset":7,'), frame);
    assert.deepEqual(Object.keys(JSON.parse(frame)), ['type', 'channel', 'offset', 'data', 'info', 'time']);
  });
});

describe('event ids of subscribe-by-URL streams', () => {
  test('encode every channel’s position as base64url JSON and decode back', () => {
    const positions = new Map<string, readonly [string, number]>([
      ['chat:a', ['k3v9', 12]],
      ['news', ['', 0]],
    ]);
    const id = encodePositions(positions);
    assert.match(id, /^[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(id, 'base64url').toString(), '{"chat:a":["k3v9",12],"news":["",0]}');
    assert.deepEqual(decodePositions(id), positions);
  });

  test('decoding refuses ids that are not positions with 400', () => {
    const enc = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const id of ['not base64!', enc([1, 2]), enc(null), enc({ a: ['e'] }), enc({ a: ['e', -1] }), enc({ a: ['e', 1.5] }), enc({ a: [1, 1] }), enc({ a: ['\n', 1] }), enc({ a: ['x'.repeat(65), 1] }), 'x'.repeat(40_000)]) {
      assert.throws(
        () => decodePositions(id),
        (error: unknown) => error instanceof FallbackError && error.status === 400,
        id.slice(0, 40),
      );
    }
  });
});
