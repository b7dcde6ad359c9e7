/**
 * Tests of the opening handshake, both roles, driven with literal request and response heads.
 *
 * @module
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from './errors.js';
import {
  type ClientRequestOptions,
  acceptKey,
  buildClientRequest,
  buildErrorResponse,
  buildUpgradeResponse,
  generateKey,
  validateUpgradeRequest,
  validateUpgradeResponse,
  type UpgradeRequestHead,
  type UpgradeRequestRejected,
} from './handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** The RFC 6455 §1.2 sample request, as Node would parse it, with `headers` merged over it. */
function request(headers: Record<string, string | string[] | undefined> = {}, head: Partial<UpgradeRequestHead> = {}): UpgradeRequestHead {
  return {
    method: 'GET',
    httpVersion: '1.1',
    headers: {
      host: 'server.example.com',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': KEY,
      'sec-websocket-version': '13',
      origin: 'http://example.com',
      ...headers,
    },
    ...head,
  };
}

/** The request with `name` removed entirely (not merely `undefined`). */
function requestWithout(name: string): UpgradeRequestHead {
  const req = request();
  const headers = { ...req.headers };
  delete headers[name];
  return { ...req, headers };
}

function rejected(req: UpgradeRequestHead): UpgradeRequestRejected {
  const result = validateUpgradeRequest(req);
  assert.equal(result.ok, false, 'expected the request to be rejected');
  return result as UpgradeRequestRejected;
}

const INVALID_ARGUMENT = { code: ErrorCode.INVALID_ARGUMENT };

describe('acceptKey and generateKey', () => {
  test('acceptKey computes the RFC 6455 §1.3 sample accept value', () => {
    assert.equal(acceptKey(KEY), ACCEPT);
  });

  test('generateKey base64-encodes the 16 injected random bytes', () => {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i);
    const key = generateKey((size) => {
      assert.equal(size, 16);
      return bytes;
    });
    assert.equal(key, 'AAECAwQFBgcICQoLDA0ODw==');
    assert.equal(validateUpgradeRequest(request({ 'sec-websocket-key': key })).ok, true);
  });

  test('generateKey reads only the 16 bytes of a view into a larger buffer', () => {
    const backing = new Uint8Array(32).fill(0xff);
    assert.equal(generateKey(() => backing.subarray(8, 24)), '/////////////////////w==');
  });

  test('generateKey throws INVALID_ARGUMENT when the source returns the wrong number of bytes', () => {
    assert.throws(() => generateKey(() => new Uint8Array(15)), INVALID_ARGUMENT);
  });
});

describe('validateUpgradeRequest', () => {
  test('accepts the RFC sample request and returns key, origin and empty offers', () => {
    assert.deepEqual(validateUpgradeRequest(request()), {
      ok: true,
      key: KEY,
      protocols: [],
      extensions: [],
      origin: 'http://example.com',
    });
  });

  test('accepts a request without Origin and reports origin as undefined', () => {
    const result = validateUpgradeRequest(requestWithout('origin'));
    assert.equal(result.ok, true);
    assert.equal(result.ok && result.origin, undefined);
  });

  test('accepts mixed-case tokens and lists in Upgrade and Connection', () => {
    const result = validateUpgradeRequest(request({ upgrade: 'h2c, WebSocket', connection: 'keep-alive, UPGRADE' }));
    assert.equal(result.ok, true);
  });

  test('accepts HTTP versions above 1.1', () => {
    assert.equal(validateUpgradeRequest(request({}, { httpVersion: '1.2' })).ok, true);
    assert.equal(validateUpgradeRequest(request({}, { httpVersion: '2.0' })).ok, true);
  });

  test('returns offered subprotocols in order, joined from repeated headers', () => {
    const result = validateUpgradeRequest(request({ 'sec-websocket-protocol': 'chat, superchat' }));
    assert.deepEqual(result.ok && result.protocols, ['chat', 'superchat']);
    const repeated = validateUpgradeRequest(request({ 'sec-websocket-protocol': ['chat', 'v2'] }));
    assert.deepEqual(repeated.ok && repeated.protocols, ['chat', 'v2']);
  });

  test('returns offered extensions parsed', () => {
    const result = validateUpgradeRequest(
      request({ 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits, permessage-deflate' }),
    );
    assert.deepEqual(result.ok && result.extensions, [
      { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
      { name: 'permessage-deflate', params: [] },
    ]);
  });

  test('answers 405 with Allow: GET to any method but GET', () => {
    for (const method of ['POST', 'HEAD', 'get', 'CONNECT', '']) {
      const result = rejected(request({}, { method }));
      assert.equal(result.status, 405);
      assert.deepEqual(result.headers, { Allow: 'GET' });
    }
  });

  test('answers 400 to HTTP/1.0 and malformed versions', () => {
    for (const httpVersion of ['1.0', '0.9', '', '1', '1.', '.1', 'a.b', '1.1.1', '01.1x']) {
      assert.equal(rejected(request({}, { httpVersion })).status, 400, httpVersion);
    }
  });

  test('answers 400 to a missing, empty or repeated Host header', () => {
    assert.equal(rejected(requestWithout('host')).status, 400);
    assert.equal(rejected(request({ host: '' })).status, 400);
    assert.equal(rejected(request({ host: ['a', 'b'] })).status, 400);
  });

  test('answers 426 with Upgrade and Sec-WebSocket-Version to a plain request without Upgrade or Connection: upgrade', () => {
    const req = request({ upgrade: undefined, connection: 'keep-alive' });
    const result = rejected(req);
    assert.equal(result.status, 426);
    assert.deepEqual(result.headers, { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
    assert.equal(rejected(request({ upgrade: undefined, connection: undefined })).status, 426);
  });

  test('answers 400 "Invalid Upgrade header" when Connection asks for an upgrade but Upgrade is missing', () => {
    const result = rejected(request({ upgrade: undefined }));
    assert.equal(result.status, 400);
    assert.equal(result.message, 'Invalid Upgrade header');
  });

  test('answers 400 to an Upgrade header without the websocket token', () => {
    for (const upgrade of ['h2c', '', 'websocket2', 'web socket', 'websocket/13']) {
      assert.equal(rejected(request({ upgrade })).message, 'Invalid Upgrade header', upgrade);
    }
  });

  test('answers 400 to a Connection header without the upgrade token', () => {
    for (const connection of [undefined, '', 'keep-alive', 'upgraded', 'keep-alive; upgrade']) {
      const result = rejected(request({ connection }));
      assert.equal(result.status, 400, String(connection));
      assert.equal(result.message, 'Invalid Connection header');
    }
  });

  test('answers 426 with Sec-WebSocket-Version: 13 to a missing or other version', () => {
    for (const version of [undefined, '', '8', '12', '14', ' 13x', '13, 8', '013']) {
      const result = rejected(request({ 'sec-websocket-version': version }));
      assert.equal(result.status, 426, String(version));
      assert.equal(result.headers['Sec-WebSocket-Version'], '13');
      assert.equal(result.headers['Upgrade'], 'websocket');
    }
  });

  test('answers 400 to a missing or malformed Sec-WebSocket-Key', () => {
    const bad = [
      undefined,
      '',
      'dGhlIHNhbXBsZSBub25jZQ',
      'dGhlIHNhbXBsZSBub25jZQ=',
      'dGhlIHNhbXBsZSBub25jZQ===',
      'dGhlIHNhbXBsZSBub25jZQ==\r\n',
      'dGhlIHNhbXBsZSBub25jZ===',
      'dGhlIHNhbXBsZSBub25jZ-_==',
      'dGhlIHNhbXBsZSBub25jZSE=',
      'AAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      'dGhlIHNhbXBs ZSBub25jZQ==',
    ];
    for (const key of bad) {
      assert.equal(rejected(request({ 'sec-websocket-key': key })).status, 400, String(key));
    }
  });

  test('answers 400 when Key, Version or Upgrade is repeated as an array', () => {
    assert.equal(rejected(request({ 'sec-websocket-key': [KEY, KEY] })).status, 400);
    assert.equal(rejected(request({ 'sec-websocket-version': ['13', '13'] })).status, 400);
    assert.equal(rejected(request({ upgrade: ['websocket', 'websocket'] })).status, 400);
  });

  test('answers 400 to an invalid Sec-WebSocket-Protocol', () => {
    for (const value of ['', 'a,,b', 'chat, chat', 'a b', 'chat\r\nX-Evil: 1', ['a', ''], ['a', 'a']]) {
      const result = rejected(request({ 'sec-websocket-protocol': value }));
      assert.equal(result.status, 400, JSON.stringify(value));
      assert.equal(result.message, 'Invalid Sec-WebSocket-Protocol header');
    }
  });

  test('answers 400 to an invalid Sec-WebSocket-Extensions', () => {
    for (const value of ['', 'a;', 'a; b="1', 'a; b="1 0"', 'a,,b']) {
      const result = rejected(request({ 'sec-websocket-extensions': value }));
      assert.equal(result.status, 400, value);
      assert.equal(result.message, 'Invalid Sec-WebSocket-Extensions header');
    }
  });

  test('answers 400 to a repeated Origin header', () => {
    assert.equal(rejected(request({ origin: ['http://a.example', 'http://b.example'] })).status, 400);
  });

  test('never throws on values of the wrong type or a missing headers object', () => {
    const weird = [123, null, {}, [1, 2], true] as unknown as string[];
    for (const value of weird) {
      for (const name of ['host', 'upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions', 'origin']) {
        const result = validateUpgradeRequest(request({ [name]: value }));
        assert.equal(result.ok, false, `${name}=${JSON.stringify(value)}`);
      }
    }
    const noHeaders = { method: 'GET', httpVersion: '1.1' } as unknown as UpgradeRequestHead;
    assert.equal(rejected(noHeaders).status, 400);
    const noVersion = { method: 'GET', headers: request().headers } as unknown as UpgradeRequestHead;
    assert.equal(rejected(noVersion).status, 400);
  });

  test('answers 400 instead of crashing when 2000 headers push Upgrade out (CVE-2024-37890)', () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) headers[`x-filler-${i}`] = 'x';
    const { upgrade: _dropped, ...kept } = request().headers;
    const result = rejected({ method: 'GET', httpVersion: '1.1', headers: { ...headers, ...kept } });
    assert.equal(result.status, 400);
    assert.equal(result.message, 'Invalid Upgrade header');
  });

  test('reads only own header properties, so prototype names neither help nor crash', () => {
    const headers = JSON.parse(
      JSON.stringify({
        ...request().headers,
        constructor: 'x',
        hasOwnProperty: 'x',
        toString: 'x',
        'sec-websocket-extensions': 'constructor; __proto__=1, hasOwnProperty',
      }).replace('"constructor":"x"', '"constructor":"x","__proto__":"x"'),
    ) as Record<string, string>;
    assert.equal(Object.hasOwn(headers, '__proto__'), true);
    const result = validateUpgradeRequest(request(headers));
    assert.equal(result.ok, true);
    assert.deepEqual(result.ok && result.extensions, [
      { name: 'constructor', params: [['__proto__', '1']] },
      { name: 'hasOwnProperty', params: [] },
    ]);

    const inherited = Object.create({ upgrade: 'websocket' }) as Record<string, string>;
    Object.assign(inherited, requestWithout('upgrade').headers);
    assert.equal(rejected({ method: 'GET', httpVersion: '1.1', headers: inherited }).message, 'Invalid Upgrade header');

    const nullProto = Object.assign(Object.create(null) as Record<string, string>, request().headers);
    assert.equal(validateUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers: nullProto }).ok, true);
  });

  test('rejects the ReDoS subprotocol header of 64k spaces within 10 ms', () => {
    const req = request({ 'sec-websocket-protocol': 'b' + ' '.repeat(65536) + 'x' });
    assert.equal(rejected(req).status, 400);
    let best = Infinity; // best of 5 runs, so a GC pause or a busy machine does not fail the test
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      validateUpgradeRequest(req);
      best = Math.min(best, performance.now() - start);
    }
    assert.ok(best < 10, `took ${best} ms`);
  });
});

describe('buildUpgradeResponse', () => {
  test('writes the exact 101 response for the RFC sample (H1)', () => {
    assert.equal(
      buildUpgradeResponse({ key: KEY }),
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        '\r\n',
    );
  });

  test('adds the selected subprotocol, the agreed extensions and extra headers in that order', () => {
    assert.equal(
      buildUpgradeResponse({
        key: KEY,
        protocol: 'chat',
        extensions: 'permessage-deflate; server_no_context_takeover',
        headers: { 'X-Node': 'a', 'Set-Cookie': ['a=1', 'b=2'] },
      }),
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: chat\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n' +
        'X-Node: a\r\n' +
        'Set-Cookie: a=1\r\n' +
        'Set-Cookie: b=2\r\n' +
        '\r\n',
    );
  });

  test('omits the subprotocol and extensions headers when they are undefined', () => {
    const text = buildUpgradeResponse({ key: KEY, protocol: undefined, extensions: undefined });
    assert.equal(text.includes('Sec-WebSocket-Protocol'), false);
    assert.equal(text.includes('Sec-WebSocket-Extensions'), false);
  });

  test('throws INVALID_ARGUMENT for an invalid key, subprotocol or extensions value', () => {
    assert.throws(() => buildUpgradeResponse({ key: 'short' }), INVALID_ARGUMENT);
    assert.throws(() => buildUpgradeResponse({ key: KEY, protocol: '' }), INVALID_ARGUMENT);
    assert.throws(() => buildUpgradeResponse({ key: KEY, protocol: 'chat\r\nX-Evil: 1' }), INVALID_ARGUMENT);
    assert.throws(() => buildUpgradeResponse({ key: KEY, extensions: 'a;\r\nX-Evil: 1' }), INVALID_ARGUMENT);
  });

  test('throws INVALID_ARGUMENT for header names that are not tokens and values with CR, LF or NUL', () => {
    const bad: Array<Record<string, string | string[]>> = [
      { 'X Bad': '1' },
      { '': '1' },
      { 'X-Bad:': '1' },
      { 'X-Bad\r\n': '1' },
      { 'X-A': 'a\r\nX-Evil: 1' },
      { 'X-A': 'a\nb' },
      { 'X-A': 'a\rb' },
      { 'X-A': 'a\0b' },
      { 'X-A': 'é' },
      { 'X-A': ['ok', 'bad\n'] },
    ];
    for (const headers of bad) assert.throws(() => buildUpgradeResponse({ key: KEY, headers }), INVALID_ARGUMENT, JSON.stringify(headers));
  });

  test('throws INVALID_ARGUMENT when extra headers repeat the handshake headers', () => {
    for (const name of ['Upgrade', 'connection', 'Sec-WebSocket-Accept', 'SEC-WEBSOCKET-PROTOCOL', 'sec-websocket-extensions']) {
      assert.throws(() => buildUpgradeResponse({ key: KEY, headers: { [name]: 'x' } }), INVALID_ARGUMENT, name);
    }
  });

  test('writes own prototype-named headers as plain headers', () => {
    const headers = JSON.parse('{"__proto__":"1","constructor":"2"}') as Record<string, string>;
    const text = buildUpgradeResponse({ key: KEY, headers });
    assert.ok(text.endsWith('__proto__: 1\r\nconstructor: 2\r\n\r\n'));
  });
});

describe('buildErrorResponse', () => {
  test('writes status line, connection close, content type and length, then the body', () => {
    assert.equal(
      buildErrorResponse(400, 'Invalid Upgrade header'),
      'HTTP/1.1 400 Bad Request\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 22\r\n' +
        '\r\n' +
        'Invalid Upgrade header',
    );
  });

  test('counts the body length in UTF-8 bytes', () => {
    assert.ok(buildErrorResponse(403, 'Forbidden – é').includes('Content-Length: 16\r\n'));
  });

  test('adds the given headers, such as Allow on a 405', () => {
    assert.equal(
      buildErrorResponse(405, 'x', { Allow: 'GET' }),
      'HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 1\r\nAllow: GET\r\n\r\nx',
    );
  });

  test('adds Upgrade: websocket and Sec-WebSocket-Version: 13 to a 426 once', () => {
    const expected =
      'HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n' +
      'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n';
    assert.equal(buildErrorResponse(426, ''), expected);
    const fromValidation = rejected(request({ 'sec-websocket-version': '8' }));
    const text = buildErrorResponse(fromValidation.status, fromValidation.message, fromValidation.headers);
    const head = text.slice(0, text.indexOf('\r\n\r\n'));
    assert.equal(head.match(/Sec-WebSocket-Version: 13/g)?.length, 1);
    assert.equal(head.match(/Upgrade: websocket/g)?.length, 1);
  });

  test('uses reason phrases for the statuses a handshake is refused with', () => {
    assert.ok(buildErrorResponse(403, '').startsWith('HTTP/1.1 403 Forbidden\r\n'));
    assert.ok(buildErrorResponse(431, '').startsWith('HTTP/1.1 431 Request Header Fields Too Large\r\n'));
    assert.ok(buildErrorResponse(499, '').startsWith('HTTP/1.1 499 Client Error\r\n'));
    assert.ok(buildErrorResponse(599, '').startsWith('HTTP/1.1 599 Server Error\r\n'));
  });

  test('throws INVALID_ARGUMENT for statuses outside 400-599 and invalid or conflicting headers', () => {
    for (const status of [101, 200, 399, 600, 400.5, Number.NaN]) {
      assert.throws(() => buildErrorResponse(status, ''), INVALID_ARGUMENT, String(status));
    }
    assert.throws(() => buildErrorResponse(400, '', { 'X-A': 'a\r\nb' }), INVALID_ARGUMENT);
    assert.throws(() => buildErrorResponse(400, '', { 'Content-Length': '5' }), INVALID_ARGUMENT);
    assert.throws(() => buildErrorResponse(400, '', { Connection: 'keep-alive' }), INVALID_ARGUMENT);
  });
});

describe('buildClientRequest', () => {
  test('writes the exact RFC sample request', () => {
    assert.equal(
      buildClientRequest({
        host: 'server.example.com',
        path: '/chat',
        key: KEY,
        protocols: ['chat', 'superchat'],
        origin: 'http://example.com',
      }),
      'GET /chat HTTP/1.1\r\n' +
        'Host: server.example.com\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${KEY}\r\n` +
        'Sec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Protocol: chat, superchat\r\n' +
        'Origin: http://example.com\r\n' +
        '\r\n',
    );
  });

  test('omits optional headers and adds extensions and extra headers', () => {
    assert.equal(
      buildClientRequest({
        host: '[::1]:8080',
        path: '/?a=1&b=%20',
        key: KEY,
        protocols: [],
        extensions: 'permessage-deflate; client_max_window_bits',
        headers: { Authorization: 'Bearer t' },
      }),
      'GET /?a=1&b=%20 HTTP/1.1\r\n' +
        'Host: [::1]:8080\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${KEY}\r\n` +
        'Sec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' +
        'Authorization: Bearer t\r\n' +
        '\r\n',
    );
  });

  test('produces a request that the server side accepts', () => {
    const text = buildClientRequest({ host: 'h', path: '/', key: KEY, protocols: ['a', 'b'], extensions: 'x; y=1' });
    const lines = text.split('\r\n').slice(1, -2);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    assert.deepEqual(validateUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers }), {
      ok: true,
      key: KEY,
      protocols: ['a', 'b'],
      extensions: [{ name: 'x', params: [['y', '1']] }],
      origin: undefined,
    });
  });

  test('throws INVALID_ARGUMENT for subprotocols that are not tokens or repeat', () => {
    for (const protocols of [[''], ['a b'], ['a,b'], ['chat\r\nX: 1'], ['a', 'a']]) {
      assert.throws(() => buildClientRequest({ host: 'h', path: '/', key: KEY, protocols }), INVALID_ARGUMENT, JSON.stringify(protocols));
    }
  });

  test('throws INVALID_ARGUMENT for a bad path, host, key, extensions, origin or header', () => {
    const base = { host: 'h', path: '/', key: KEY };
    const bad: ClientRequestOptions[] = [
      { ...base, path: '' },
      { ...base, path: 'chat' },
      { ...base, path: '/a b' },
      { ...base, path: '/a\r\nX: 1' },
      { ...base, path: '/é' },
      { ...base, host: '' },
      { ...base, host: 'h\r\nX: 1' },
      { ...base, host: 'a b' },
      { ...base, key: 'short' },
      { ...base, extensions: 'a;' },
      { ...base, origin: 'http://a\r\nX: 1' },
      { ...base, headers: { 'X-A': 'a\nb' } },
      { ...base, headers: { 'Bad Name': 'a' } },
      { ...base, headers: { Host: 'other' } },
      { ...base, headers: { 'sec-websocket-key': KEY } },
      { ...base, headers: { Origin: 'http://a' } },
    ];
    for (const options of bad) assert.throws(() => buildClientRequest(options), INVALID_ARGUMENT, JSON.stringify(options));
  });
});

describe('validateUpgradeResponse', () => {
  const response = (headers: Record<string, string | string[] | undefined> = {}, statusCode = 101) => ({
    statusCode,
    headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': ACCEPT, ...headers },
  });
  const none = { key: KEY, protocols: [] };
  const offered = { key: KEY, protocols: ['chat', 'superchat'] };

  test('accepts the RFC sample response with no subprotocol and no extensions', () => {
    assert.deepEqual(validateUpgradeResponse(response(), none), { ok: true, protocol: '', extensions: [] });
  });

  test('accepts mixed case in Upgrade and a list in Connection', () => {
    assert.equal(validateUpgradeResponse(response({ upgrade: 'WebSocket', connection: 'keep-alive, upgrade' }), none).ok, true);
  });

  test('returns the subprotocol the server selected from those offered', () => {
    const result = validateUpgradeResponse(response({ 'sec-websocket-protocol': 'superchat' }), offered);
    assert.deepEqual(result, { ok: true, protocol: 'superchat', extensions: [] });
  });

  test('accepts a server that selects no subprotocol from those offered', () => {
    assert.deepEqual(validateUpgradeResponse(response(), offered), { ok: true, protocol: '', extensions: [] });
  });

  test('returns the parsed extensions without judging them', () => {
    const result = validateUpgradeResponse(response({ 'sec-websocket-extensions': 'permessage-deflate; server_max_window_bits=7' }), none);
    assert.deepEqual(result.ok && result.extensions, [{ name: 'permessage-deflate', params: [['server_max_window_bits', '7']] }]);
  });

  test('fails on any status other than 101', () => {
    for (const status of [200, 301, 400, 426, 500]) {
      const result = validateUpgradeResponse(response({}, status), none);
      assert.deepEqual(result, { ok: false, message: `Unexpected server response: ${status}` });
    }
  });

  test('fails on a missing, repeated or non-websocket Upgrade header', () => {
    for (const upgrade of [undefined, '', 'h2c', 'websocket, h2c', ['websocket', 'websocket']]) {
      assert.deepEqual(validateUpgradeResponse(response({ upgrade }), none), { ok: false, message: 'Invalid Upgrade header' });
    }
  });

  test('fails on a Connection header without the upgrade token', () => {
    for (const connection of [undefined, '', 'close', 'upgraded']) {
      assert.deepEqual(validateUpgradeResponse(response({ connection }), none), { ok: false, message: 'Invalid Connection header' });
    }
  });

  test('fails on a missing, repeated or wrong Sec-WebSocket-Accept', () => {
    for (const accept of [undefined, '', acceptKey('AAAAAAAAAAAAAAAAAAAAAA=='), ACCEPT.toLowerCase(), [ACCEPT, ACCEPT], ` ${ACCEPT}x`]) {
      const result = validateUpgradeResponse(response({ 'sec-websocket-accept': accept }), none);
      assert.deepEqual(result, { ok: false, message: 'Invalid Sec-WebSocket-Accept header' });
    }
  });

  test('fails on a subprotocol that was not offered, a list, or an empty value', () => {
    for (const value of ['other', 'Chat', 'chat, superchat', '', ['chat', 'chat'], '__proto__', 'constructor']) {
      const result = validateUpgradeResponse(response({ 'sec-websocket-protocol': value }), offered);
      assert.equal(result.ok, false, JSON.stringify(value));
    }
  });

  test('fails on a subprotocol when none was offered', () => {
    const result = validateUpgradeResponse(response({ 'sec-websocket-protocol': 'chat' }), none);
    assert.deepEqual(result, { ok: false, message: 'Server sent a subprotocol but none was requested' });
  });

  test('fails on a malformed Sec-WebSocket-Extensions header', () => {
    for (const value of ['', 'a;', 'a; b="1', 'a; b=1 2']) {
      const result = validateUpgradeResponse(response({ 'sec-websocket-extensions': value }), none);
      assert.deepEqual(result, { ok: false, message: 'Invalid Sec-WebSocket-Extensions header' }, value);
    }
  });

  test('reads only own header properties of the response', () => {
    const inherited = Object.create({ 'sec-websocket-accept': ACCEPT }) as Record<string, string>;
    Object.assign(inherited, { upgrade: 'websocket', connection: 'Upgrade' });
    const result = validateUpgradeResponse({ statusCode: 101, headers: inherited }, none);
    assert.equal(result.ok, false);
  });
});
