/**
 * The long-polling transport over real HTTP: open, poll, send; the poll timeout; one poll at a time; unknown
 * sessions; body limits while streaming; reaping idle sessions; the outbound cap; keepalive; CORS.
 */
import assert from 'node:assert/strict';
import { request, type ClientRequest } from 'node:http';
import { after, describe, test } from 'node:test';
import { sleep, within } from '../test-support/util.js';
import { call, PollClient, startFallbackHub, type FallbackHub, type FallbackHubOptions } from './fallback-harness.test.js';

const T = { timeout: 15_000 };
const started: FallbackHub[] = [];
after(async () => {
  for (const h of started) await h.close();
});

async function start(options: FallbackHubOptions = {}): Promise<FallbackHub> {
  const h = await startFallbackHub(options);
  started.push(h);
  return h;
}

/** Opens a session and connects it (anonymously). */
async function connected(h: FallbackHub): Promise<{ client: PollClient; result: any }> {
  const client = await PollClient.open(h.url);
  const reply = await client.command({ type: 'connect' });
  assert.ok(reply.result, JSON.stringify(reply));
  return { client, result: reply.result };
}

/**
 * A chunked JSON `POST` to `url` whose body `write` sends (and may leave unfinished); resolves to the status of
 * the answer as soon as it arrives.
 */
function chunkedSend(url: string, write: (req: ClientRequest) => void): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    write(req);
  });
}

/** The code and reason of the next session end. */
function nextDisconnect(h: FallbackHub): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => h.hub.once('disconnect', (_session, code: number, reason: string) => resolve({ code, reason })));
}

describe('POST /poll/open', () => {
  test('answers 200 with an opaque sid of at least 128 random bits, new for each session', T, async () => {
    const h = await start();
    const a = await call(`${h.url}/poll/open`, { method: 'POST' });
    const b = await call(`${h.url}/poll/open`, { method: 'POST' });
    assert.equal(a.status, 200);
    assert.match(a.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(a.headers['cache-control'], 'no-store');
    assert.deepEqual(Object.keys(a.json), ['sid']);
    assert.match(a.json.sid, /^[A-Za-z0-9_-]{32}$/);
    assert.ok(Buffer.from(a.json.sid, 'base64url').byteLength * 8 >= 128);
    assert.notEqual(a.json.sid, b.json.sid);
    assert.equal(h.hub.sessionCount, 2);
    assert.equal(h.polling.connections, 2);
  });

  test('answers 405 with Allow to another method', T, async () => {
    const h = await start();
    const res = await call(`${h.url}/poll/open`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'POST, OPTIONS');
    assert.equal(res.json.error.code, 'method_not_allowed');
  });

  test('answers 503 past maxSessions', T, async () => {
    const h = await start({ polling: { maxSessions: 1 } });
    assert.equal((await call(`${h.url}/poll/open`, { method: 'POST' })).status, 200);
    const refused = await call(`${h.url}/poll/open`, { method: 'POST' });
    assert.equal(refused.status, 503);
    assert.equal(refused.json.error.code, 'unavailable');
  });
});

describe('GET /poll and POST /poll/send', () => {
  test('carry the hub protocol: connect, subscribe, and publications as they are published', T, async () => {
    const h = await start();
    const { client, result } = await connected(h);
    assert.equal(typeof result.clientId, 'string');
    assert.notEqual(result.clientId, client.sid, 'the public client id is not the secret sid');
    const sub = await client.command({ type: 'subscribe', channel: 'chat:a' });
    assert.equal(sub.result.offset, 0);
    await h.hub.publish('chat:a', { text: 'hello' });
    const push = await client.until((m) => m.type === 'publication');
    assert.deepEqual({ channel: push.channel, offset: push.offset, data: push.data }, { channel: 'chat:a', offset: 1, data: { text: 'hello' } });
  });

  test('send answers 204 after handing every command of the body to the session, in order', T, async () => {
    const h = await start();
    const client = await PollClient.open(h.url);
    const { ids, answer } = await client.send(
      { type: 'connect' },
      { type: 'subscribe', channel: 'chat:order' },
      { type: 'publish', channel: 'chat:order', data: 1 },
      { type: 'publish', channel: 'chat:order', data: 2 },
    );
    assert.equal(answer.status, 204);
    assert.equal(answer.text, '');
    const replies = [];
    for (const id of ids) replies.push(await client.until((m) => m.id === id));
    assert.ok(replies.every((r) => r.result !== undefined), JSON.stringify(replies));
    assert.deepEqual(
      replies.slice(2).map((r) => r.result.offset),
      [1, 2],
    );
  });

  test('an empty array is a valid body', T, async () => {
    const h = await start();
    const client = await PollClient.open(h.url);
    assert.equal((await client.send()).answer.status, 204);
  });

  test('a poll with nothing queued waits pollTimeoutMs and answers []', T, async () => {
    const h = await start({ polling: { pollTimeoutMs: 300 } });
    const { client } = await connected(h);
    const began = Date.now();
    const res = await client.poll();
    const waited = Date.now() - began;
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, []);
    assert.ok(waited >= 280 && waited < 5000, `waited ${waited} ms`);
  });

  test('a waiting poll answers as soon as something is queued', T, async () => {
    const h = await start({ polling: { pollTimeoutMs: 10_000 } });
    const { client } = await connected(h);
    await client.command({ type: 'subscribe', channel: 'chat:fast' });
    const began = Date.now();
    const polling = client.poll();
    await sleep(100);
    await h.hub.publish('chat:fast', 'now');
    const res = await polling;
    assert.ok(Date.now() - began < 2000);
    assert.deepEqual(
      res.json.map((m: any) => m.data),
      ['now'],
    );
  });

  test('a second concurrent poll gets 409; the first still gets the messages', T, async () => {
    const h = await start({ polling: { pollTimeoutMs: 2000 } });
    const { client } = await connected(h);
    const first = client.poll();
    await sleep(50);
    const second = await client.poll();
    assert.equal(second.status, 409);
    assert.equal(second.json.error.code, 'conflict');
    await client.send({ type: 'ping' });
    const answer = await first;
    assert.equal(answer.status, 200);
    assert.equal(answer.json.length, 1);
    assert.deepEqual(answer.json[0].result, {});
  });

  test('an unknown or malformed sid gets 404 not_found "unknown session"', T, async () => {
    const h = await start();
    const expected = { error: { code: 'not_found', message: 'unknown session' } };
    for (const url of [`${h.url}/poll?sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, `${h.url}/poll?sid=nope`, `${h.url}/poll`]) {
      const res = await call(url);
      assert.equal(res.status, 404, url);
      assert.deepEqual(res.json, expected);
    }
    const send = await call(`${h.url}/poll/send?sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, { method: 'POST', body: [{ id: 1, type: 'ping' }] });
    assert.equal(send.status, 404);
    assert.deepEqual(send.json, expected);
  });

  test('a poll the client abandoned does not swallow what is queued afterwards', T, async () => {
    const h = await start({ polling: { pollTimeoutMs: 5000 } });
    const { client } = await connected(h);
    await client.command({ type: 'subscribe', channel: 'chat:abandon' });
    const req = request(`${h.url}/poll?sid=${client.sid}`, { agent: false });
    req.on('error', () => {});
    req.end();
    await sleep(100);
    req.destroy();
    await sleep(100);
    await h.hub.publish('chat:abandon', 'kept');
    const push = await client.until((m) => m.type === 'publication');
    assert.equal(push.data, 'kept');
  });
});

describe('command bodies', () => {
  test('bad JSON, a non-array, and invalid UTF-8 get 400; the session carries on', T, async () => {
    const h = await start();
    const { client } = await connected(h);
    const url = `${h.url}/poll/send?sid=${client.sid}`;
    for (const body of ['{', '{"id":2,"type":"ping"}', '"ping"', '', '[{"id":2,"type":"ping","data":{"__proto__":1}}]']) {
      const res = await call(url, { method: 'POST', body });
      assert.equal(res.status, 400, body);
      assert.equal(res.json.error.code, 'bad_request');
    }
    const bytes = await new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]));
    });
    assert.equal(bytes, 400);
    const reply = await client.command({ type: 'ping' });
    assert.deepEqual(reply.result, {});
  });

  test('a Content-Length over maxBodyBytes gets 413 at once and the connection is closed', T, async () => {
    const h = await start({ polling: { maxBodyBytes: 1024 } });
    const client = await PollClient.open(h.url);
    const res = await call(`${h.url}/poll/send?sid=${client.sid}`, { method: 'POST', body: `[${'1,'.repeat(600)}1]` });
    assert.equal(res.status, 413);
    assert.equal(res.json.error.code, 'payload_too_large');
    assert.equal(res.headers.connection, 'close');
  });

  test('a body streamed slowly past maxBodyBytes gets 413 before the client has finished sending', T, async () => {
    const h = await start(); // default limit: 64 KiB
    const client = await PollClient.open(h.url);
    const total = 1024 * 1024;
    const chunk = Buffer.alloc(8 * 1024, 0x20);
    let sent = 0;
    const outcome = await within(
      new Promise<{ status: number; sentAtAnswer: number; code: string; closed: Promise<void> }>((resolve, reject) => {
        const req = request(`${h.url}/poll/send?sid=${client.sid}`, {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        });
        let timer: NodeJS.Timeout | undefined;
        req.on('response', (res) => {
          clearInterval(timer);
          const sentAtAnswer = sent;
          const closed = new Promise<void>((done) => req.socket!.once('close', () => done()));
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, sentAtAnswer, code: JSON.parse(Buffer.concat(chunks).toString()).error.code, closed }));
        });
        req.on('error', (error) => {
          if (timer !== undefined) clearInterval(timer);
          reject(error);
        });
        req.write('[');
        // 8 KiB every 10 ms: the whole megabyte would take more than a second.
        timer = setInterval(() => {
          if (sent >= total) return;
          req.write(chunk);
          sent += chunk.length;
        }, 10);
      }),
      5000,
      'the 413',
    );
    assert.equal(outcome.status, 413);
    assert.equal(outcome.code, 'payload_too_large');
    assert.ok(outcome.sentAtAnswer < total, `answered after ${outcome.sentAtAnswer} of ${total} bytes`);
    assert.ok(outcome.sentAtAnswer <= 64 * 1024 + 4 * chunk.length, `read ${outcome.sentAtAnswer} bytes before answering`);
    await within(outcome.closed, 3000, 'the connection to close');
    // The session is unaffected.
    assert.equal((await client.send({ type: 'connect' })).answer.status, 204);
  });

  test('a fast sender of ten times the limit, chunked, gets 413 too (never buffered whole)', T, async () => {
    const h = await start({ polling: { maxBodyBytes: 16 * 1024 } });
    const client = await PollClient.open(h.url);
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const status = await within(
      chunkedSend(`${h.url}/poll/send?sid=${client.sid}`, (req) => {
        for (let i = 0; i < 10; i++) req.write(chunk);
      }),
      5000,
      'the 413',
    );
    assert.equal(status, 413);
  });

  test('bodies of concurrent sends are handed over in the order the requests arrived', T, async () => {
    const h = await start();
    const client = await PollClient.open(h.url);
    // The first request (connect) finishes its body after the second (ping) has been read whole.
    const slow = chunkedSend(`${h.url}/poll/send?sid=${client.sid}`, (req) => {
      req.write('[{"id":1,');
      setTimeout(() => req.end('"type":"connect"}]'), 300);
    });
    await sleep(100);
    const fast = call(`${h.url}/poll/send?sid=${client.sid}`, { method: 'POST', body: [{ id: 2, type: 'ping' }] });
    assert.equal(await slow, 204);
    assert.equal((await fast).status, 204);
    assert.ok((await client.until((m) => m.id === 1)).result);
    assert.deepEqual((await client.until((m) => m.id === 2)).result, {});
  });
});

describe('session lifetime', () => {
  test('a session with no poll for sessionIdleMs is reaped, and its sid becomes unknown', T, async () => {
    const h = await start({ polling: { sessionIdleMs: 200, pollTimeoutMs: 100 } });
    const reaped = nextDisconnect(h);
    const { client } = await connected(h);
    assert.deepEqual(await within(reaped, 3000, 'the reaping'), { code: 1006, reason: 'session idle' });
    assert.equal(h.hub.sessionCount, 0);
    assert.equal(h.polling.connections, 0);
    assert.equal((await client.poll()).status, 404);
  });

  test('a session is not reaped while a poll is in progress', T, async () => {
    const h = await start({ polling: { sessionIdleMs: 300, pollTimeoutMs: 1000 } });
    const { client } = await connected(h);
    const res = await client.poll();
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, []);
    assert.equal(h.hub.sessionCount, 1);
  });

  test('an open session that is never polled is reaped too', T, async () => {
    const h = await start({ polling: { sessionIdleMs: 150 } });
    const reaped = nextDisconnect(h);
    await PollClient.open(h.url);
    assert.equal((await within(reaped, 3000, 'the reaping')).code, 1006);
    assert.equal(h.hub.sessionCount, 0);
  });

  test('when the hub ends a session, one last poll gets the disconnect push, then the sid is unknown', T, async () => {
    const h = await start();
    const { client, result } = await connected(h);
    assert.equal(h.hub.disconnect({ clientId: result.clientId }, { reason: 'bye' }), 1);
    assert.equal(h.hub.sessionCount, 0);
    assert.equal(h.polling.connections, 1, 'counted until its last poll');
    const last = await client.poll();
    assert.equal(last.status, 200);
    assert.deepEqual(last.json, [{ type: 'disconnect', code: 4004, reason: 'bye', reconnect: true }]);
    assert.equal(h.polling.connections, 0);
    assert.equal((await client.poll()).status, 404);
    assert.equal((await client.send({ type: 'ping' })).answer.status, 404);
  });

  test('a waiting poll gets the disconnect push of a hub shutdown (1001, with reconnect advice)', T, async () => {
    const h = await start({ polling: { pollTimeoutMs: 5000 } });
    const { client } = await connected(h);
    const waiting = client.poll();
    await sleep(50);
    h.hub.shutdown({ reconnectWindowMs: 100 });
    const res = await waiting;
    assert.equal(res.json.length, 1);
    assert.equal(res.json[0].type, 'disconnect');
    assert.equal(res.json[0].code, 1001);
    assert.equal(res.json[0].reconnect, true);
  });

  test('queued bytes are capped: a client that stops polling is disconnected as a slow consumer (4000)', T, async () => {
    const h = await start({ polling: { maxQueueBytes: 4096, pollTimeoutMs: 200 } });
    const { client, result } = await connected(h);
    await client.command({ type: 'subscribe', channel: 'chat:flood' });
    const closed = nextDisconnect(h);
    for (let i = 0; i < 20; i++) await h.hub.publish('chat:flood', 'x'.repeat(500));
    assert.equal((await within(closed, 2000, 'the slow-consumer disconnect')).code, 4000);
    assert.equal(h.hub.session(result.clientId), undefined);
    const last = await client.poll();
    assert.deepEqual(last.json, [{ type: 'disconnect', code: 4000, reason: 'slow', reconnect: true }]);
    assert.equal((await client.poll()).status, 404);
  });

  test('a session that sends no command for pingTimeoutMs is disconnected with 4005, even while polling', T, async () => {
    const h = await start({ polling: { pingTimeoutMs: 300, pollTimeoutMs: 200 } });
    const { client } = await connected(h);
    const push = await client.until((m) => m.type === 'disconnect', 3000);
    assert.equal(push.code, 4005);
    assert.equal(push.reconnect, true);
  });

  test('pings keep a session alive', T, async () => {
    const h = await start({ polling: { pingTimeoutMs: 1500, pollTimeoutMs: 100 } });
    const { client } = await connected(h);
    // 1.8 s in all, longer than pingTimeoutMs.
    for (let i = 0; i < 12; i++) {
      await sleep(150);
      await client.command({ type: 'ping' });
    }
    assert.equal(h.hub.sessionCount, 1);
  });
});

describe('origins and CORS', () => {
  test('without an allowlist, any origin gets Access-Control-Allow-Origin: *', T, async () => {
    const h = await start();
    const res = await call(`${h.url}/poll/open`, { method: 'POST', headers: { origin: 'https://anywhere.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
  });

  test('with an allowlist: allowed origins are echoed, others get 403 on requests and preflights', T, async () => {
    const h = await start({ polling: { allowedOrigins: ['https://app.example'] } });
    const ok = await call(`${h.url}/poll/open`, { method: 'POST', headers: { origin: 'https://APP.example' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://APP.example');
    assert.equal(ok.headers.vary, 'Origin');
    for (const origin of ['https://evil.example', 'https://app.example.evil.example', 'http://app.example', 'https://app.example:8443', 'null']) {
      const refused = await call(`${h.url}/poll/open`, { method: 'POST', headers: { origin } });
      assert.equal(refused.status, 403, origin);
      assert.equal(refused.json.error.code, 'forbidden');
      assert.equal(refused.headers['access-control-allow-origin'], undefined);
    }
    const preflight = await call(`${h.url}/poll/send?sid=x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(preflight.headers['access-control-allow-methods'] ?? '', /POST/);
    assert.match(preflight.headers['access-control-allow-headers'] ?? '', /Content-Type/);
    const badPreflight = await call(`${h.url}/poll/send?sid=x`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    assert.equal(badPreflight.status, 403);
    assert.equal(badPreflight.headers['access-control-allow-origin'], undefined);
  });

  test('requests without Origin (non-browser clients) pass an allowlist', T, async () => {
    const h = await start({ polling: { allowedOrigins: ['https://app.example'] } });
    const res = await call(`${h.url}/poll/open`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });
});

describe('options', () => {
  test('are validated at construction', T, async () => {
    const h = await start();
    const { PollingTransport } = await import('./polling.js');
    assert.throws(() => new PollingTransport(h.hub, { pollTimeoutMs: 0 }), /pollTimeoutMs/);
    assert.throws(() => new PollingTransport(h.hub, { sessionIdleMs: 1.5 }), /sessionIdleMs/);
    assert.throws(() => new PollingTransport(h.hub, { maxSessions: -1 }), /maxSessions/);
    assert.throws(() => new PollingTransport(h.hub, { path: 'poll' }), /path/);
    assert.throws(() => new PollingTransport(h.hub, { allowedOrigins: ['https://a.example/path'] }), /not an origin/);
  });
});
