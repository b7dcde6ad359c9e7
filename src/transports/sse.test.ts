/**
 * The SSE transport over real HTTP: the SDK stream (open event, hub messages as events, commands by POST,
 * keepalive comments, the session ending with the stream) and subscribe-by-URL for plain `EventSource` and
 * `curl -N` clients (publication events with position ids, exact resume after `Last-Event-ID`, gaps, errors,
 * tokens).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { mintToken } from '../hub/testing/tokens.js';
import { sleep, within } from '../test-support/util.js';
import { call, positionsOf, startFallbackHub, StreamReader, type FallbackHub, type FallbackHubOptions, type StreamBlock } from './fallback-harness.test.js';
import { acceptsEventStream } from './sse.js';

const T = { timeout: 15_000 };
const started: FallbackHub[] = [];
const readers: StreamReader[] = [];
after(async () => {
  for (const r of readers) r.close();
  for (const h of started) await h.close();
});

async function start(options: FallbackHubOptions = {}): Promise<FallbackHub> {
  const h = await startFallbackHub(options);
  started.push(h);
  return h;
}

async function open(url: string, headers: Record<string, string> = {}): Promise<StreamReader> {
  const reader = await StreamReader.open(url, headers);
  readers.push(reader);
  return reader;
}

/** Opens an SDK stream and returns it with its sid. */
async function sdkStream(h: FallbackHub): Promise<{ stream: StreamReader; sid: string; send: (...commands: object[]) => Promise<number> }> {
  const stream = await open(`${h.url}/sse`);
  const first = await stream.next();
  assert.equal(first.event, 'open');
  const sid = JSON.parse(first.data!).sid as string;
  const send = async (...commands: object[]): Promise<number> => (await call(`${h.url}/sse/send?sid=${sid}`, { method: 'POST', body: commands })).status;
  return { stream, sid, send };
}

/** The next `publication` event, parsed, with its id decoded. */
async function publication(stream: StreamReader): Promise<{ data: any; positions: Record<string, [string, number]>; block: StreamBlock }> {
  const block = await stream.event('publication');
  assert.ok(block.id, 'a publication event carries an id');
  return { data: JSON.parse(block.data!), positions: positionsOf(block.id), block };
}

describe('SDK streams: GET /sse and POST /sse/send', () => {
  test('open a text/event-stream whose first event is "open" with the sid', T, async () => {
    const h = await start();
    const stream = await open(`${h.url}/sse`);
    assert.equal(stream.status, 200);
    assert.equal(stream.headers['content-type'], 'text/event-stream');
    assert.equal(stream.headers['cache-control'], 'no-store');
    assert.equal(stream.headers['x-accel-buffering'], 'no');
    const first = await stream.next();
    assert.equal(first.event, 'open');
    assert.equal(first.id, undefined);
    const { sid } = JSON.parse(first.data!);
    assert.match(sid, /^[A-Za-z0-9_-]{32}$/);
    assert.equal(h.sse.connections, 1);
  });

  test('carry the hub protocol: commands by POST (204), each reply and push as one unnamed data event', T, async () => {
    const h = await start();
    const { stream, send } = await sdkStream(h);
    assert.equal(await send({ id: 1, type: 'connect' }, { id: 2, type: 'subscribe', channel: 'chat:sse' }), 204);
    const connect = await stream.message((m) => m.id === 1);
    assert.equal(typeof connect.result.clientId, 'string');
    assert.equal((await stream.message((m) => m.id === 2)).result.offset, 0);
    await h.hub.publish('chat:sse', { text: 'line one\nline two' });
    const push = await stream.message((m) => m.type === 'publication');
    assert.deepEqual(push.data, { text: 'line one\nline two' });
  });

  test('send a ": ping" comment every keepaliveMs', T, async () => {
    const h = await start({ sse: { keepaliveMs: 100 } });
    const { stream } = await sdkStream(h);
    const ping = await stream.next((b) => b.comment !== undefined, 1000);
    assert.equal(ping.comment, 'ping');
  });

  test('the session ends with the stream; its sid is then unknown', T, async () => {
    const h = await start();
    const { stream, sid, send } = await sdkStream(h);
    assert.equal(await send({ id: 1, type: 'connect' }), 204);
    await stream.message((m) => m.id === 1);
    assert.equal(h.hub.sessionCount, 1);
    stream.close();
    await within(
      (async () => {
        while (h.hub.sessionCount > 0) await sleep(10);
      })(),
      2000,
      'the session to end',
    );
    assert.equal(h.sse.connections, 0);
    const res = await call(`${h.url}/sse/send?sid=${sid}`, { method: 'POST', body: [{ id: 2, type: 'ping' }] });
    assert.equal(res.status, 404);
    assert.deepEqual(res.json, { error: { code: 'not_found', message: 'unknown session' } });
  });

  test('a hub disconnect arrives as the disconnect push, then the stream ends', T, async () => {
    const h = await start();
    const { stream, send } = await sdkStream(h);
    await send({ id: 1, type: 'connect' });
    const { result } = await stream.message((m) => m.id === 1);
    h.hub.disconnect({ clientId: result.clientId }, { reconnect: false, reason: 'kicked' });
    assert.deepEqual(await stream.message((m) => m.type === 'disconnect'), { type: 'disconnect', code: 4504, reason: 'kicked', reconnect: false });
    await within(stream.ended, 2000, 'the end of the stream');
  });

  test('a session that sends no command for pingTimeoutMs is disconnected with 4005', T, async () => {
    const h = await start({ sse: { pingTimeoutMs: 300 } });
    const { stream, send } = await sdkStream(h);
    await send({ id: 1, type: 'connect' });
    const push = await stream.message((m) => m.type === 'disconnect', 3000);
    assert.equal(push.code, 4005);
    await within(stream.ended, 2000, 'the end of the stream');
  });

  test('bodies: 400 for bad JSON, 413 past maxBodyBytes, 404 for an unknown sid', T, async () => {
    const h = await start({ sse: { maxBodyBytes: 512 } });
    const { sid } = await sdkStream(h);
    const bad = await call(`${h.url}/sse/send?sid=${sid}`, { method: 'POST', body: '[{"id":1,' });
    assert.equal(bad.status, 400);
    const notArray = await call(`${h.url}/sse/send?sid=${sid}`, { method: 'POST', body: { id: 1, type: 'ping' } });
    assert.equal(notArray.status, 400);
    const big = await call(`${h.url}/sse/send?sid=${sid}`, { method: 'POST', body: [{ id: 1, type: 'rpc', method: 'x', data: 'y'.repeat(600) }] });
    assert.equal(big.status, 413);
    assert.equal((await call(`${h.url}/sse/send?sid=${'A'.repeat(32)}`, { method: 'POST', body: [] })).status, 404);
  });

  test('answer 406 to an Accept header without text/event-stream, and 405 to other methods', T, async () => {
    const h = await start();
    const res = await call(`${h.url}/sse`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 406);
    assert.equal(res.json.error.code, 'not_acceptable');
    assert.equal((await call(`${h.url}/sse`, { method: 'POST', body: [] })).status, 405);
    assert.equal((await call(`${h.url}/sse/send`, { method: 'GET' })).status, 405);
  });

  test('Accept: the SDK’s, a browser EventSource’s, curl’s, and none are all accepted', () => {
    for (const accept of [undefined, '', 'text/event-stream', '*/*', 'text/*;q=0.5', 'application/json, text/event-stream;q=0.9']) {
      assert.equal(acceptsEventStream(accept), true, String(accept));
    }
    assert.equal(acceptsEventStream('application/json'), false);
  });

  test('refuse an origin outside the allowlist with 403 before the stream', T, async () => {
    const h = await start({ sse: { allowedOrigins: ['https://app.example'] } });
    const refused = await call(`${h.url}/sse`, { headers: { origin: 'https://evil.example', accept: 'text/event-stream' } });
    assert.equal(refused.status, 403);
    const allowed = await open(`${h.url}/sse`, { origin: 'https://app.example' });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example');
  });
});

describe('subscribe by URL: GET /sse?channel=…', () => {
  test('streams publications as "publication" events whose id encodes the channel position', T, async () => {
    const h = await start();
    const stream = await open(`${h.url}/sse?channel=chat:url`);
    assert.equal(stream.status, 200);
    assert.equal(stream.headers['content-type'], 'text/event-stream');
    const start_ = await stream.next((b) => b.id !== undefined);
    assert.equal(start_.event, undefined, 'the stream starts with an id-only block');
    assert.equal(start_.data, undefined);
    const epoch = positionsOf(start_.id!)['chat:url']![0];
    assert.deepEqual(positionsOf(start_.id!), { 'chat:url': [epoch, 0] });
    await h.hub.publish('chat:url', { n: 1 });
    const { data, positions } = await publication(stream);
    assert.deepEqual(Object.keys(data), ['channel', 'offset', 'data', 'time']);
    assert.deepEqual({ channel: data.channel, offset: data.offset, data: data.data }, { channel: 'chat:url', offset: 1, data: { n: 1 } });
    assert.equal(typeof data.time, 'number');
    assert.deepEqual(positions, { 'chat:url': [epoch, 1] });
  });

  test('after Last-Event-ID, replays exactly the publications missed while away, in order, then continues live', T, async () => {
    const h = await start();
    const url = `${h.url}/sse?channel=chat:resume`;
    const first = await open(url);
    await first.next((b) => b.id !== undefined);
    for (let n = 1; n <= 5; n++) await h.hub.publish('chat:resume', { n });
    const seen = [];
    let lastId = '';
    for (let i = 0; i < 5; i++) {
      const event = await publication(first);
      seen.push(event.data.data.n);
      lastId = event.block.id!;
    }
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    first.close();
    for (let n = 6; n <= 10; n++) await h.hub.publish('chat:resume', { n });

    const second = await open(url, { 'last-event-id': lastId });
    const replayed = [];
    for (let i = 0; i < 5; i++) replayed.push(await publication(second));
    assert.deepEqual(
      replayed.map((e) => e.data.data.n),
      [6, 7, 8, 9, 10],
    );
    assert.deepEqual(
      replayed.map((e) => e.positions['chat:resume']![1]),
      [6, 7, 8, 9, 10],
    );
    await sleep(100);
    assert.deepEqual(
      second.blocks.filter((b) => b.event !== undefined),
      [],
      'nothing else: no duplicate, no gap',
    );
    await h.hub.publish('chat:resume', { n: 11 });
    assert.equal((await publication(second)).data.data.n, 11);
  });

  test('the lastEventId query parameter resumes like the header', T, async () => {
    const h = await start();
    const first = await open(`${h.url}/sse?channel=chat:param`);
    const { id } = await first.next((b) => b.id !== undefined);
    first.close();
    await h.hub.publish('chat:param', 'missed');
    const second = await open(`${h.url}/sse?channel=chat:param&lastEventId=${id}`);
    assert.equal((await publication(second)).data.data, 'missed');
  });

  test('a reconnect before any publication arrived misses nothing (the id-only block at the start)', T, async () => {
    const h = await start();
    await h.hub.publish('chat:early', 'old');
    const first = await open(`${h.url}/sse?channel=chat:early`);
    const { id } = await first.next((b) => b.id !== undefined);
    first.close();
    await h.hub.publish('chat:early', 'new');
    const second = await open(`${h.url}/sse?channel=chat:early`, { 'last-event-id': id! });
    const event = await publication(second);
    assert.equal(event.data.data, 'new');
    assert.equal(event.data.offset, 2);
  });

  test('reports a gap event with the exact lost range when the history is too short, then replays what is kept', T, async () => {
    const h = await start();
    const first = await open(`${h.url}/sse?channel=short:gap`);
    await first.next((b) => b.id !== undefined);
    await h.hub.publish('short:gap', 1);
    await h.hub.publish('short:gap', 2);
    await publication(first);
    const { block } = await publication(first);
    first.close();
    for (let n = 3; n <= 8; n++) await h.hub.publish('short:gap', n); // history keeps 3: 6, 7, 8
    const second = await open(`${h.url}/sse?channel=short:gap`, { 'last-event-id': block.id! });
    const gap = await second.next((b) => b.event !== undefined);
    assert.equal(gap.event, 'gap');
    assert.deepEqual(JSON.parse(gap.data!), { type: 'gap', channel: 'short:gap', fromOffset: 3, toOffset: 5, epochChanged: false });
    assert.equal(positionsOf(gap.id!)['short:gap']![1], 5);
    const kept = [];
    for (let i = 0; i < 3; i++) kept.push((await publication(second)).data.data);
    assert.deepEqual(kept, [6, 7, 8]);
  });

  test('an unknown epoch in Last-Event-ID gets a gap event with epochChanged', T, async () => {
    const h = await start();
    await h.hub.publish('chat:epoch', 'a');
    const id = Buffer.from(JSON.stringify({ 'chat:epoch': ['gone', 7] })).toString('base64url');
    const stream = await open(`${h.url}/sse?channel=chat:epoch`, { 'last-event-id': id });
    const gap = await stream.event('gap');
    assert.equal(JSON.parse(gap.data!).epochChanged, true);
    const event = await publication(stream);
    assert.equal(event.data.data, 'a');
    assert.notEqual(event.positions['chat:epoch']![0], 'gone');
  });

  test('a live epoch change is reported as a gap and the ids carry the new epoch', T, async () => {
    const h = await start();
    const stream = await open(`${h.url}/sse?channel=chat:reset`);
    const { id } = await stream.next((b) => b.id !== undefined);
    const oldEpoch = positionsOf(id!)['chat:reset']![0];
    // The history store restarts the stream in a new epoch: its next publication comes with offset 1.
    h.history.position = async () => ({ epoch: 'fresh', offset: 1 });
    await h.broker.publish('chat:reset', { offset: 1, data: 'after reset', time: Date.now() }, 'fresh');
    const gap = await stream.event('gap');
    assert.equal(JSON.parse(gap.data!).epochChanged, true);
    assert.deepEqual(positionsOf(gap.id!)['chat:reset'], ['fresh', 0]);
    const event = await publication(stream);
    assert.equal(event.data.data, 'after reset');
    assert.deepEqual(event.positions['chat:reset'], ['fresh', 1]);
    assert.notEqual(oldEpoch, 'fresh');
  });

  test('several channels: one stream, each id holding every channel’s position; a reconnect recovers each', T, async () => {
    const h = await start();
    const url = `${h.url}/sse?channel=chat:a&channel=chat:b&channel=chat:a`;
    const first = await open(url);
    await first.next((b) => b.id !== undefined);
    await h.hub.publish('chat:a', 'a1');
    await h.hub.publish('chat:b', 'b1');
    await h.hub.publish('chat:a', 'a2');
    await publication(first);
    await publication(first);
    const last = await publication(first);
    assert.deepEqual(Object.keys(last.positions), ['chat:a', 'chat:b']);
    assert.deepEqual([last.positions['chat:a']![1], last.positions['chat:b']![1]], [2, 1]);
    first.close();
    await h.hub.publish('chat:b', 'b2');
    await h.hub.publish('chat:a', 'a3');
    const second = await open(url, { 'last-event-id': last.block.id! });
    const replayed = [(await publication(second)).data, (await publication(second)).data];
    assert.deepEqual(replayed.map((d) => d.data).sort(), ['a3', 'b2']);
  });

  test('a channel without history streams publications with offset 0', T, async () => {
    const h = await start();
    const stream = await open(`${h.url}/sse?channel=live:x`);
    const { id } = await stream.next((b) => b.id !== undefined);
    assert.deepEqual(positionsOf(id!), { 'live:x': ['', 0] });
    await h.hub.publish('live:x', 'now');
    const event = await publication(stream);
    assert.equal(event.data.offset, 0);
    assert.deepEqual(event.positions, { 'live:x': ['', 0] });
  });

  test('sends publications and gaps only, never replies or other pushes', T, async () => {
    const h = await start({
      hub: { namespaces: { default: { subscribe: 'anyone' }, namespaces: { room: { subscribe: 'anyone', presence: true, joinLeave: true } } } },
    });
    const stream = await open(`${h.url}/sse?channel=room:1`);
    await stream.next((b) => b.id !== undefined);
    const other = await open(`${h.url}/sse?channel=room:1`); // its join reaches the first stream's session
    await other.next((b) => b.id !== undefined);
    await h.hub.publish('room:1', 'p');
    await publication(stream);
    await sleep(100);
    assert.deepEqual(
      stream.blocks.filter((b) => b.comment === undefined),
      [],
    );
  });

  test('a refused subscription is an "error" event, then the stream ends', T, async () => {
    const h = await start({ hub: { namespaces: { strict: true, default: { subscribe: 'anyone' }, namespaces: { chat: { subscribe: 'anyone' } } } } });
    const stream = await open(`${h.url}/sse?channel=chat:ok&channel=nope:x`);
    assert.equal(stream.status, 200);
    const error = await stream.event('error');
    assert.deepEqual(JSON.parse(error.data!), { channel: 'nope:x', code: 'not_found', message: 'unknown namespace' });
    await within(stream.ended, 2000, 'the end of the stream');
    await within(
      (async () => {
        while (h.hub.sessionCount > 0) await sleep(10);
      })(),
      2000,
      'the session to end',
    );
  });

  test('a permission refusal is an "error" event too', T, async () => {
    const h = await start();
    const stream = await open(`${h.url}/sse?channel=private:x`);
    const error = await stream.event('error');
    assert.equal(JSON.parse(error.data!).code, 'permission_denied');
    await within(stream.ended, 2000, 'the end of the stream');
  });

  test('a bad token gets 401 before the stream; a valid one, by parameter or Bearer header, subscribes', T, async () => {
    const h = await start();
    const bad = await call(`${h.url}/sse?channel=private:x&token=not.a.token`, { headers: { accept: 'text/event-stream' } });
    assert.equal(bad.status, 401);
    assert.equal(bad.json.error.code, 'unauthorized');
    assert.equal(bad.headers['www-authenticate'], 'Bearer');
    const expired = await mintToken({ sub: 'alice' }, { expiresInSec: -10 });
    assert.equal((await call(`${h.url}/sse?channel=private:x&token=${expired}`)).status, 401);

    const token = await mintToken({ sub: 'alice' });
    const byParam = await open(`${h.url}/sse?channel=private:x&token=${token}`);
    assert.equal(byParam.status, 200);
    const byHeader = await open(`${h.url}/sse?channel=private:x`, { authorization: `Bearer ${token}` });
    assert.equal(byHeader.status, 200);
    await byHeader.next((b) => b.id !== undefined);
    await h.hub.publish('private:x', 'secret');
    assert.equal((await publication(byHeader)).data.data, 'secret');
  });

  test('without a token where anonymous access is off: 401', T, async () => {
    const h = await start({ hub: { allowAnonymous: false } });
    const res = await call(`${h.url}/sse?channel=chat:x`);
    assert.equal(res.status, 401);
    assert.equal(h.hub.sessionCount, 0);
  });

  test('a bad channel name or Last-Event-ID gets 400 before the stream', T, async () => {
    const h = await start();
    assert.equal((await call(`${h.url}/sse?channel=chat::x`)).status, 400);
    assert.equal((await call(`${h.url}/sse?channel=`)).status, 400);
    assert.equal((await call(`${h.url}/sse?channel=chat:x`, { headers: { 'last-event-id': '%%%' } })).status, 400);
    const wrongShape = Buffer.from(JSON.stringify({ 'chat:x': ['e', -1] })).toString('base64url');
    assert.equal((await call(`${h.url}/sse?channel=chat:x&lastEventId=${wrongShape}`)).status, 400);
    const tooMany = Array.from({ length: 129 }, (_, i) => `channel=chat:c${i}`).join('&');
    assert.equal((await call(`${h.url}/sse?${tooMany}`)).status, 400);
    assert.equal(h.hub.sessionCount, 0);
  });

  test('while the hub shuts down: the stream ends (a new one gets 503)', T, async () => {
    const h = await start();
    const stream = await open(`${h.url}/sse?channel=chat:bye`);
    await stream.next((b) => b.id !== undefined);
    h.hub.shutdown({ reconnectWindowMs: 10 });
    await within(stream.ended, 2000, 'the end of the stream');
    assert.equal((await call(`${h.url}/sse?channel=chat:bye`)).status, 503);
  });
});

describe('curl -N', () => {
  const curl = new Promise<boolean>((resolve) => execFile('curl', ['--version'], (error) => resolve(error === null)));

  test('streams publications to `curl -N URL`', T, async (t) => {
    if (!(await curl)) return t.skip('curl is not installed');
    const h = await start();
    const child = spawn('curl', ['-sN', `${h.url}/sse?channel=chat:curl`]);
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    try {
      await within(
        (async () => {
          while (!output.includes('id: ')) await sleep(20);
        })(),
        3000,
        'curl to start',
      );
      await h.hub.publish('chat:curl', { text: 'hi curl' });
      await within(
        (async () => {
          while (!output.includes('event: publication')) await sleep(20);
        })(),
        3000,
        'the publication in curl',
      );
      assert.match(output, /event: publication\nid: [A-Za-z0-9_-]+\ndata: \{"channel":"chat:curl","offset":1,"data":\{"text":"hi curl"\},"time":\d+\}\n\n/);
    } finally {
      child.kill();
    }
  });
});
