/**
 * The HTTP API over real sockets: every route, its answers, and bad input for each (missing fields, wrong
 * types, bad channels, bad JSON, wrong methods, keys), against a server started in-process on a free port.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { HubClient, http, startTestServer, type TestServer } from '../server/harness.test.js';
import { within } from '../test-support/util.js';
import { statusOf } from './respond.js';

const T = { timeout: 10_000 };

const CONFIG = {
  allowAnonymous: true,
  namespaces: {
    namespaces: {
      room: { presence: true, joinLeave: true },
      big: { presence: true, countsOnly: true },
      nohist: { historySize: 0 },
    },
  },
};

let t: TestServer;
const clients: HubClient[] = [];
before(async () => {
  t = await startTestServer(CONFIG);
});
after(async () => {
  for (const client of clients) await client.close();
  await t.stop();
});

const post = (path: string, body: unknown, options: { apiKey?: string | null } = {}) =>
  http(`${t.url}${path}`, { method: 'POST', body: typeof body === 'string' ? body : (body as object), ...options });
const get = (path: string, options: { apiKey?: string | null } = {}) => http(`${t.url}${path}`, options);

async function connected(): Promise<{ client: HubClient; clientId: string }> {
  const { client, result } = await HubClient.connect(t.wsUrl);
  clients.push(client);
  return { client, clientId: result.clientId };
}

/** Asserts a 400 `bad_request` whose message mentions `field`. */
function assertBadRequest(res: { status: number; json: any }, field: string | RegExp): void {
  assert.equal(res.status, 400, JSON.stringify(res.json));
  assert.equal(res.json.error.code, 'bad_request');
  if (typeof field === 'string') assert.ok(res.json.error.message.includes(field), `"${res.json.error.message}" names ${field}`);
  else assert.match(res.json.error.message, field);
}

describe('POST /api/publish', () => {
  test('answers the epoch and the offset, which increases by one per publication', T, async () => {
    const first = await post('/api/publish', { channel: 'chat:pub-1', data: { text: 'a' } });
    assert.equal(first.status, 200);
    assert.deepEqual(Object.keys(first.json).sort(), ['epoch', 'offset']);
    assert.equal(typeof first.json.epoch, 'string');
    assert.equal(first.json.offset, 1);
    const second = await post('/api/publish', { channel: 'chat:pub-1', data: null });
    assert.deepEqual(second.json, { epoch: first.json.epoch, offset: 2 });
    assert.match(String(second.headers['content-type']), /^application\/json/);
  });

  test('delivers the publication to a WebSocket subscriber', T, async () => {
    const { client } = await connected();
    const sub = await client.command({ type: 'subscribe', channel: 'chat:live' });
    assert.ok(sub.result, JSON.stringify(sub));
    const res = await post('/api/publish', { channel: 'chat:live', data: { hello: 'world' } });
    assert.equal(res.status, 200);
    const push = await client.nextPush((p) => p.type === 'publication' && p.channel === 'chat:live');
    assert.deepEqual(push.data, { hello: 'world' });
    assert.equal(push.offset, res.json.offset);
  });

  test('a repeated idempotencyKey returns the first result and publishes nothing', T, async () => {
    const body = { channel: 'chat:idem', data: 1, idempotencyKey: 'order-42' };
    const a = await post('/api/publish', body);
    const b = await post('/api/publish', { ...body, data: 2 });
    assert.deepEqual(b.json, a.json);
    const history = await get('/api/history?channel=chat:idem');
    assert.equal(history.json.publications.length, 1);
    assert.equal(history.json.publications[0].data, 1);
  });

  test('answers offset 0 and an empty epoch in a namespace without history', T, async () => {
    const res = await post('/api/publish', { channel: 'nohist:x', data: 'x' });
    assert.deepEqual(res.json, { epoch: '', offset: 0 });
  });

  test('refuses a body without channel, naming it', T, async () => {
    assertBadRequest(await post('/api/publish', { data: 1 }), '"channel" is required');
  });

  test('refuses a body without data, naming it', T, async () => {
    assertBadRequest(await post('/api/publish', { channel: 'chat:a' }), '"data" is required');
  });

  test('refuses a channel that is not a string', T, async () => {
    assertBadRequest(await post('/api/publish', { channel: 42, data: 1 }), '"channel" must be a string');
  });

  test('refuses channel names outside the hub grammar', T, async () => {
    assertBadRequest(await post('/api/publish', { channel: ':room', data: 1 }), '"channel" must not have an empty segment');
    assertBadRequest(await post('/api/publish', { channel: 'a b', data: 1 }), '"channel" may only contain');
    assertBadRequest(await post('/api/publish', { channel: '', data: 1 }), '"channel" must not be empty');
    assertBadRequest(await post('/api/publish', { channel: 'x'.repeat(256), data: 1 }), '"channel" must be at most 255');
    assertBadRequest(await post('/api/publish', { channel: 'constructor:x', data: 1 }), 'reserved name');
  });

  test('refuses an idempotencyKey of the wrong type or length', T, async () => {
    assertBadRequest(await post('/api/publish', { channel: 'chat:a', data: 1, idempotencyKey: 7 }), '"idempotencyKey"');
    assertBadRequest(await post('/api/publish', { channel: 'chat:a', data: 1, idempotencyKey: 'k'.repeat(129) }), '"idempotencyKey"');
  });

  test('refuses unknown fields, naming them', T, async () => {
    assertBadRequest(await post('/api/publish', { channel: 'chat:a', data: 1, chanel: 'x' }), 'unknown field "chanel"');
  });

  test('refuses a body that is not a JSON object', T, async () => {
    assertBadRequest(await post('/api/publish', [1, 2]), 'must be a JSON object');
    assertBadRequest(await post('/api/publish', '"text"'), 'must be a JSON object');
  });

  test('refuses a body that is not JSON, or empty', T, async () => {
    assertBadRequest(await post('/api/publish', '{"channel": "chat:a", "data": '), 'not valid JSON');
    assertBadRequest(await post('/api/publish', ''), 'a JSON body is required');
    assertBadRequest(await http(`${t.url}/api/publish`, { method: 'POST', body: Buffer.from([0x7b, 0xff, 0x7d]) }), 'not valid UTF-8');
  });

  test('refuses data with a __proto__ key or nesting deeper than the limit', T, async () => {
    assertBadRequest(await post('/api/publish', '{"channel":"chat:a","data":{"__proto__":{"polluted":1}}}'), '__proto__');
    const deep = `{"channel":"chat:a","data":${'['.repeat(100)}${']'.repeat(100)}}`;
    assertBadRequest(await post('/api/publish', deep), 'deeper than');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('refuses query parameters', T, async () => {
    assertBadRequest(await post('/api/publish?channel=chat:a', { channel: 'chat:a', data: 1 }), 'unknown query parameter "channel"');
  });

  test('answers 405 with Allow: POST to a GET', T, async () => {
    const res = await get('/api/publish');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'POST');
    assert.equal(res.json.error.code, 'method_not_allowed');
  });
});

describe('POST /api/broadcast', () => {
  test('publishes to every channel and answers one result per channel, in order', T, async () => {
    const res = await post('/api/broadcast', { channels: ['chat:b1', 'chat:b2', 'nohist:b3'], data: { n: 1 } });
    assert.equal(res.status, 200);
    assert.equal(res.json.results.length, 3);
    assert.deepEqual(
      res.json.results.map((r: any) => [r.channel, r.offset]),
      [
        ['chat:b1', 1],
        ['chat:b2', 1],
        ['nohist:b3', 0],
      ],
    );
    assert.equal(typeof res.json.results[0].epoch, 'string');
    const history = await get('/api/history?channel=chat:b2');
    assert.deepEqual(history.json.publications[0].data, { n: 1 });
  });

  test('refuses a missing, empty or non-array channels field', T, async () => {
    assertBadRequest(await post('/api/broadcast', { data: 1 }), '"channels" is required');
    assertBadRequest(await post('/api/broadcast', { channels: [], data: 1 }), '"channels" must be an array of 1 to');
    assertBadRequest(await post('/api/broadcast', { channels: 'chat:a', data: 1 }), '"channels" must be an array');
  });

  test('refuses a bad channel, naming its index', T, async () => {
    assertBadRequest(await post('/api/broadcast', { channels: ['chat:a', 'bad channel'], data: 1 }), '"channels[1]"');
    assertBadRequest(await post('/api/broadcast', { channels: ['chat:a', 5], data: 1 }), '"channels[1]" must be a string');
  });

  test('refuses a repeated channel', T, async () => {
    assertBadRequest(await post('/api/broadcast', { channels: ['chat:a', 'chat:a'], data: 1 }), '"channels[1]" repeats "channels[0]"');
  });

  test('refuses a missing data field and unknown fields', T, async () => {
    assertBadRequest(await post('/api/broadcast', { channels: ['chat:a'] }), '"data" is required');
    assertBadRequest(await post('/api/broadcast', { channels: ['chat:a'], data: 1, channel: 'x' }), 'unknown field "channel"');
  });

  test('answers 405 to a GET', T, async () => {
    const res = await get('/api/broadcast');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'POST');
  });
});

describe('GET /api/history', () => {
  before(async () => {
    for (let i = 1; i <= 5; i++) await post('/api/publish', { channel: 'chat:hist', data: { i } });
  });

  test('answers epoch, offset and the publications oldest first', T, async () => {
    const res = await get('/api/history?channel=chat:hist');
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.json).sort(), ['epoch', 'offset', 'publications']);
    assert.equal(res.json.offset, 5);
    assert.deepEqual(
      res.json.publications.map((p: any) => [p.offset, p.data.i]),
      [
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 4],
        [5, 5],
      ],
    );
    const first = res.json.publications[0];
    assert.deepEqual(Object.keys(first).sort(), ['data', 'offset', 'time'], 'API publications carry no info');
    assert.equal(typeof first.time, 'number');
  });

  test('applies since, limit and reverse', T, async () => {
    const since = await get('/api/history?channel=chat:hist&since=3');
    assert.deepEqual(since.json.publications.map((p: any) => p.offset), [4, 5]);
    const limited = await get('/api/history?channel=chat:hist&since=1&limit=2');
    assert.deepEqual(limited.json.publications.map((p: any) => p.offset), [2, 3]);
    const reversed = await get('/api/history?channel=chat:hist&limit=2&reverse=true');
    assert.deepEqual(reversed.json.publications.map((p: any) => p.offset), [5, 4]);
  });

  test('answers an empty page for a channel nobody published to', T, async () => {
    const res = await get('/api/history?channel=chat:empty');
    assert.equal(res.status, 200);
    assert.equal(res.json.offset, 0);
    assert.deepEqual(res.json.publications, []);
  });

  test('shows the publisher info of client publications', T, async () => {
    const { client, clientId } = await connected();
    const reply = await client.command({ type: 'publish', channel: 'chat:from-client', data: 'hi' });
    assert.ok(reply.result, JSON.stringify(reply));
    const res = await get('/api/history?channel=chat:from-client');
    assert.equal(res.json.publications[0].info.clientId, clientId);
  });

  test('refuses a missing or bad channel', T, async () => {
    assertBadRequest(await get('/api/history'), '"channel" is required');
    assertBadRequest(await get('/api/history?channel=a%20b'), '"channel" may only contain');
  });

  test('refuses since, limit and reverse that are not what they should be', T, async () => {
    assertBadRequest(await get('/api/history?channel=chat:hist&since=-1'), '"since" must be an integer');
    assertBadRequest(await get('/api/history?channel=chat:hist&since=abc'), '"since" must be an integer');
    assertBadRequest(await get('/api/history?channel=chat:hist&limit=1001'), '"limit" must be an integer from 0 to 1000');
    assertBadRequest(await get('/api/history?channel=chat:hist&reverse=yes'), '"reverse" must be true or false');
  });

  test('refuses unknown and repeated query parameters', T, async () => {
    assertBadRequest(await get('/api/history?channel=chat:hist&offset=1'), 'unknown query parameter "offset"');
    assertBadRequest(await get('/api/history?channel=chat:hist&channel=chat:x'), '"channel" is given more than once');
  });

  test('answers 503 unavailable in a namespace without history', T, async () => {
    const res = await get('/api/history?channel=nohist:x');
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, 'unavailable');
  });

  test('answers 405 with Allow: GET to a POST', T, async () => {
    const res = await post('/api/history', { channel: 'chat:hist' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET');
  });
});

describe('GET /api/presence', () => {
  test('answers counts and members of a channel with presence', T, async () => {
    const { client, clientId } = await connected();
    const sub = await client.command({ type: 'subscribe', channel: 'room:lobby' });
    assert.ok(sub.result, JSON.stringify(sub));
    const res = await get('/api/presence?channel=room:lobby');
    assert.equal(res.status, 200);
    assert.equal(res.json.clients, 1);
    assert.equal(res.json.users, 1);
    assert.equal(res.json.members.length, 1);
    assert.equal(res.json.members[0].clientId, clientId);
    assert.equal(res.json.members[0].userId, '');
  });

  test('answers counts only when asked, or when the namespace is counts-only', T, async () => {
    const asked = await get('/api/presence?channel=room:lobby&countsOnly=true');
    assert.deepEqual(Object.keys(asked.json).sort(), ['clients', 'users']);
    const big = await get('/api/presence?channel=big:stadium');
    assert.deepEqual(big.json, { clients: 0, users: 0 });
  });

  test('answers 503 unavailable where presence is off', T, async () => {
    const res = await get('/api/presence?channel=chat:a');
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, 'unavailable');
  });

  test('refuses a missing channel and unknown parameters', T, async () => {
    assertBadRequest(await get('/api/presence'), '"channel" is required');
    assertBadRequest(await get('/api/presence?channel=room:a&members=1'), 'unknown query parameter "members"');
    assertBadRequest(await get('/api/presence?channel=room:a&countsOnly=1'), '"countsOnly" must be true or false');
  });

  test('answers 405 to a POST', T, async () => {
    const res = await post('/api/presence', {});
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET');
  });
});

describe('GET /api/channels', () => {
  test('lists the channels with subscribers on this node, with their counts', T, async () => {
    const a = await connected();
    const b = await connected();
    await a.client.command({ type: 'subscribe', channel: 'chat:listed' });
    await b.client.command({ type: 'subscribe', channel: 'chat:listed' });
    const res = await get('/api/channels');
    assert.equal(res.status, 200);
    const entry = res.json.channels.find((c: any) => c.channel === 'chat:listed');
    assert.deepEqual(entry, { channel: 'chat:listed', subscribers: 2 });
    const names = res.json.channels.map((c: any) => c.channel);
    assert.deepEqual(names, [...names].sort(), 'sorted by name');
  });

  test('refuses query parameters', T, async () => {
    assertBadRequest(await get('/api/channels?prefix=chat'), 'unknown query parameter "prefix"');
  });

  test('answers 405 to a POST', T, async () => {
    const res = await post('/api/channels', {});
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET');
  });
});

describe('POST /api/disconnect', () => {
  test('disconnects a client by id with code 4004 (may reconnect)', T, async () => {
    const { client, clientId } = await connected();
    const res = await post('/api/disconnect', { clientId, reason: 'maintenance' });
    assert.deepEqual(res.json, { disconnected: 1 });
    const push = await client.nextPush((p) => p.type === 'disconnect');
    assert.equal(push.code, 4004);
    assert.equal(push.reason, 'maintenance');
    assert.equal(push.reconnect, true);
    assert.equal((await within(client.closed, 3000, 'close')).code, 4004);
  });

  test('with reconnect: false, uses code 4504 (must not come back)', T, async () => {
    const { client, clientId } = await connected();
    const res = await post('/api/disconnect', { clientId, reconnect: false });
    assert.deepEqual(res.json, { disconnected: 1 });
    assert.equal((await within(client.closed, 3000, 'close')).code, 4504);
  });

  test('answers 0 when nobody matches', T, async () => {
    const res = await post('/api/disconnect', { userId: 'nobody-here' });
    assert.deepEqual(res.json, { disconnected: 0 });
  });

  test('refuses a body naming neither clientId nor userId', T, async () => {
    assertBadRequest(await post('/api/disconnect', {}), '"clientId" or "userId" is required');
    assertBadRequest(await post('/api/disconnect', { reason: 'x' }), '"clientId" or "userId" is required');
  });

  test('refuses fields of the wrong type', T, async () => {
    assertBadRequest(await post('/api/disconnect', { clientId: 1 }), '"clientId" must be a string');
    assertBadRequest(await post('/api/disconnect', { userId: '' }), '"userId" must be a string of 1');
    assertBadRequest(await post('/api/disconnect', { clientId: 'c', reconnect: 'no' }), '"reconnect" must be true or false');
    assertBadRequest(await post('/api/disconnect', { clientId: 'c', reason: 'é'.repeat(61) }), '"reason" must be a string of at most 120 bytes');
    assertBadRequest(await post('/api/disconnect', { clientId: 'c', code: 4000 }), 'unknown field "code"');
  });

  test('answers 405 to a GET', T, async () => {
    const res = await get('/api/disconnect');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'POST');
  });
});

describe('API key', () => {
  test('a request without Authorization gets 401 with WWW-Authenticate', T, async () => {
    const res = await post('/api/publish', { channel: 'chat:a', data: 1 }, { apiKey: null });
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'apikey');
    assert.equal(res.json.error.code, 'unauthorized');
  });

  test('a wrong key, or another scheme, gets 401', T, async () => {
    assert.equal((await get('/api/channels', { apiKey: 'test-kez' })).status, 401);
    assert.equal((await get('/api/channels', { apiKey: 'test-key-and-more' })).status, 401);
    const bearer = await http(`${t.url}/api/channels`, { apiKey: null, headers: { authorization: 'Bearer test-key' } });
    assert.equal(bearer.status, 401);
  });

  test('the scheme name is case-insensitive', T, async () => {
    const res = await http(`${t.url}/api/channels`, { apiKey: null, headers: { authorization: 'ApiKey test-key' } });
    assert.equal(res.status, 200);
  });

  test('is checked before the route, so routes cannot be probed without it', T, async () => {
    assert.equal((await get('/api/nope', { apiKey: null })).status, 401);
    const known = await get('/api/nope');
    assert.equal(known.status, 404);
    assert.equal(known.json.error.code, 'not_found');
  });
});

describe('API disabled', () => {
  let off: TestServer;
  before(async () => {
    off = await startTestServer({ apiKey: undefined });
  });
  after(() => off.stop());

  test('every /api/ route answers 404 when no key is configured, with or without a key', T, async () => {
    for (const path of ['/api/publish', '/api/history?channel=a', '/api/channels', '/api']) {
      const res = await http(`${off.url}${path}`, { method: path === '/api/publish' ? 'POST' : 'GET', body: path === '/api/publish' ? {} : undefined });
      assert.equal(res.status, 404, path);
      assert.equal(res.json.error.code, 'not_found');
      assert.match(res.json.error.message, /disabled/);
    }
  });
});

describe('strict namespaces', () => {
  let strict: TestServer;
  before(async () => {
    strict = await startTestServer({ namespaces: { strict: true, namespaces: { chat: {} } } });
  });
  after(() => strict.stop());

  test('publish and history in an unknown namespace answer 404 not_found', T, async () => {
    const pub = await http(`${strict.url}/api/publish`, { method: 'POST', body: { channel: 'nope:x', data: 1 } });
    assert.equal(pub.status, 404);
    assert.equal(pub.json.error.code, 'not_found');
    const hist = await http(`${strict.url}/api/history?channel=nope:x`);
    assert.equal(hist.status, 404);
  });

  test('broadcast reports the error per channel and publishes the others', T, async () => {
    const res = await http(`${strict.url}/api/broadcast`, { method: 'POST', body: { channels: ['chat:ok', 'nope:x'], data: 1 } });
    assert.equal(res.status, 200);
    assert.equal(res.json.results[0].offset, 1);
    assert.deepEqual(res.json.results[1], { channel: 'nope:x', error: { code: 'not_found', message: 'unknown namespace' } });
  });
});

describe('body size limit', () => {
  let small: TestServer;
  before(async () => {
    small = await startTestServer({ api: { maxBodyBytes: 1024 } });
  });
  after(() => small.stop());

  function publishBody(size: number): string {
    const prefix = '{"channel":"chat:big","data":"';
    const suffix = '"}';
    return prefix + 'x'.repeat(size - prefix.length - suffix.length) + suffix;
  }

  test('accepts a body of exactly the limit', T, async () => {
    const res = await http(`${small.url}/api/publish`, { method: 'POST', body: publishBody(1024) });
    assert.equal(res.status, 200);
  });

  test('answers 413 to a Content-Length over the limit', T, async () => {
    const res = await http(`${small.url}/api/publish`, { method: 'POST', body: publishBody(1025) });
    assert.equal(res.status, 413);
    assert.equal(res.json.error.code, 'payload_too_large');
  });

  /** Sends `first` bytes of a chunked body and waits for the answer without ending the request. */
  function streamWithoutEnding(url: string, first: number): Promise<{ status: number; json: any }> {
    return within(
      new Promise((resolve, reject) => {
        const req = request(`${url}/api/publish`, {
          method: 'POST',
          headers: { authorization: 'apikey test-key', 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
          agent: false,
        });
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) });
            req.destroy();
          });
        });
        req.on('error', reject);
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        req.write('{"channel":"chat:big","data":"');
        for (let sent = 0; sent < first; sent += chunk.length) req.write(chunk);
        // Never ended: the server must answer while the body is still streaming.
      }),
      5000,
      'the 413 while streaming',
    );
  }

  test('answers 413 while a chunked body is still streaming, past the limit', T, async () => {
    const res = await streamWithoutEnding(small.url, 4096);
    assert.equal(res.status, 413);
    assert.equal(res.json.error.code, 'payload_too_large');
  });

  test('with the default limit of 1 MiB too', T, async () => {
    const res = await streamWithoutEnding(t.url, 1024 * 1024 + 64 * 1024);
    assert.equal(res.status, 413);
  });

  test('still answers requests afterwards', T, async () => {
    const res = await http(`${small.url}/api/channels`);
    assert.equal(res.status, 200);
  });
});

describe('docs/openapi.json', () => {
  const spec = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')) as {
    openapi: string;
    paths: Record<string, Record<string, unknown>>;
  };

  test('is OpenAPI 3.1 and documents exactly the routes and methods the API serves', T, async () => {
    assert.equal(spec.openapi, '3.1.0');
    const documented = Object.keys(spec.paths).filter((path) => path.startsWith('/api/'));
    assert.deepEqual(documented.sort(), ['/api/broadcast', '/api/channels', '/api/disconnect', '/api/history', '/api/presence', '/api/publish']);
    for (const path of documented) {
      const res = await http(`${t.url}${path}`, { method: 'DELETE' });
      assert.equal(res.status, 405, path);
      assert.equal(res.headers.allow, Object.keys(spec.paths[path]!).map((m) => m.toUpperCase()).join(', '), path);
    }
  });
});

describe('status codes', () => {
  test('hub error codes map to HTTP statuses', () => {
    assert.equal(statusOf('bad_request'), 400);
    assert.equal(statusOf('permission_denied'), 403);
    assert.equal(statusOf('not_found'), 404);
    assert.equal(statusOf('unavailable'), 503);
    assert.equal(statusOf('internal'), 500);
    assert.equal(statusOf('rate_limited'), 429);
    assert.equal(statusOf('something_new'), 500);
  });
});
