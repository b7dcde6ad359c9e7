/**
 * The client against a real hub in-process (our WebSocket, memory engines): connect, subscribe, publish with
 * acks, history, presence, RPC, typed errors, timeouts with a safe retry, the outbox bound, and the checks
 * that throw synchronously.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { WebSocket } from '../socket/index.js';
import { received, sleep, testScope, until } from './harness.test.js';
import { ClientErrorCode, SDK_VERSION, Volley, VolleyError } from './index.js';

const T = { timeout: 10_000 };
const { hub, client, track } = testScope();

type Chat = { text: string; n?: number };

describe('connecting', () => {
  test('connects over WebSocket and reports connecting, then connected with the client id and transport', T, async () => {
    const h = await hub();
    const c = track(new Volley(h.base, { WebSocket }));
    const events: string[] = [];
    c.on('connecting', ({ reason }) => events.push(`connecting:${reason}`));
    c.on('state', ({ state }) => events.push(`state:${state}`));
    c.on('transport', ({ transport }) => events.push(`transport:${transport}`));
    const connectedEvent = new Promise<{ clientId: string; transport: string }>((resolve) => c.once('connected', resolve));
    assert.equal(c.state, 'disconnected');
    c.connect();
    const { clientId, transport } = await connectedEvent;
    assert.equal(transport, 'websocket');
    assert.equal(c.transport, 'websocket');
    assert.equal(c.clientId, clientId);
    assert.ok(h.hub.session(clientId), 'the hub knows the session');
    assert.deepEqual(events, ['state:connecting', 'connecting:connect', 'transport:websocket', 'state:connected']);
  });

  test('sends the SDK name and version in connect, and the version is the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(SDK_VERSION, pkg.version);
  });

  test('ready() rejects with VOLLEY_ERR_DISCONNECTED before connect() and after disconnect()', T, async () => {
    const h = await hub();
    const c = new Volley(h.base, { WebSocket });
    await assert.rejects(c.ready(), (e: VolleyError) => e.code === ClientErrorCode.DISCONNECTED);
  });
});

describe('channels', () => {
  test('a publish resolves with the ack, and subscribers receive the publication at that offset', T, async () => {
    const h = await hub();
    const alice = await client(h.base);
    const bob = await client(h.base);
    const bobRoom = bob.channel<Chat>('chat:room-1');
    const got = received(bobRoom);
    await bobRoom.subscribe();
    const ack = await alice.channel<Chat>('chat:room-1').publish({ text: 'hello' });
    assert.equal(ack.offset, 1);
    assert.ok(ack.epoch.length > 0);
    await until(() => got.length === 1, 2000, 'the publication');
    assert.equal(got[0]!.data.text, 'hello');
    assert.equal(got[0]!.offset, ack.offset);
    assert.equal(got[0]!.info?.clientId, alice.clientId);
    assert.deepEqual(bobRoom.position, { epoch: ack.epoch, offset: 1 });
  });

  test('channel(name) returns the same object for the same name', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    assert.equal(c.channel('chat:a'), c.channel('chat:a'));
  });

  test('unsubscribe() stops delivery at once', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    const room = c.channel<Chat>('chat:quiet');
    const got = received(room);
    await room.subscribe();
    await room.publish({ text: 'one' });
    await until(() => got.length === 1, 2000, 'the first publication');
    await room.unsubscribe();
    assert.equal(room.state, 'unsubscribed');
    await room.publish({ text: 'two' });
    await sleep(50);
    assert.equal(got.length, 1);
  });

  test('history pages with since, limit and reverse', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    const room = c.channel<Chat>('chat:history');
    for (let n = 1; n <= 5; n++) await room.publish({ text: 'm', n });
    const all = await room.history();
    assert.deepEqual(all.publications.map((p) => p.data.n), [1, 2, 3, 4, 5]);
    assert.equal(all.offset, 5);
    const page = await room.history({ since: 2, limit: 2 });
    assert.deepEqual(page.publications.map((p) => p.offset), [3, 4]);
    const newest = await room.history({ limit: 2, reverse: true });
    assert.deepEqual(newest.publications.map((p) => p.offset), [5, 4]);
    assert.equal(newest.publications[0]!.channel, 'chat:history');
  });

  test('presence lists members with their presence data', T, async () => {
    const h = await hub();
    const alice = await client(h.base);
    const bob = await client(h.base);
    await alice.channel('chat:presence').subscribe({ presenceData: { name: 'alice' } });
    const bobRoom = bob.channel('chat:presence');
    const joins: unknown[] = [];
    bobRoom.on('join', ({ info }) => joins.push(info.data));
    await bobRoom.subscribe({ presenceData: { name: 'bob' } });
    const result = await bobRoom.presence();
    assert.equal(result.clients, 2);
    assert.deepEqual(new Set(result.members?.map((m) => (m.data as { name: string }).name)), new Set(['alice', 'bob']));
    const counts = await bob.presence('chat:presence', { countsOnly: true });
    assert.equal(counts.members, undefined);
    assert.equal(counts.clients, 2);
  });

  test('a channel without history delivers live publications with offset 0', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    const live = c.channel<Chat>('live:ticks');
    const got = received(live);
    await live.subscribe();
    assert.deepEqual(await live.publish({ text: 'a' }), { epoch: '', offset: 0 });
    await live.publish({ text: 'b' });
    await until(() => got.length === 2, 2000, 'both publications');
    assert.deepEqual(got.map((p) => [p.offset, p.data.text]), [[0, 'a'], [0, 'b']]);
  });

  test('a refused subscribe rejects with the hub code, and the channel reports error and unsubscribed', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    const closed = c.channel('closed:x');
    const events: string[] = [];
    closed.on('error', ({ error }) => events.push(`error:${error.code}`));
    closed.on('unsubscribed', ({ byServer }) => events.push(`unsubscribed:${byServer}`));
    await assert.rejects(closed.subscribe(), (e: unknown) => e instanceof VolleyError && e.code === 'permission_denied');
    assert.equal(closed.state, 'unsubscribed');
    assert.deepEqual(events, ['error:permission_denied', 'unsubscribed:true']);
  });

  test('a refused publish rejects with a VolleyError carrying the hub code and the idempotency key', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    await assert.rejects(c.publish('closed:x', 1, { idempotencyKey: 'k-1' }), (e: unknown) => {
      assert.ok(e instanceof VolleyError);
      assert.equal(e.code, 'permission_denied');
      assert.equal(e.idempotencyKey, 'k-1');
      return true;
    });
  });
});

describe('server-side subscriptions', () => {
  test('a subscription made by the hub is reported by the client, with its publications', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    const events: string[] = [];
    c.on('subscribed', ({ channel, offset }) => events.push(`subscribed:${channel}:${offset}`));
    c.on('publication', ({ channel, data }) => events.push(`publication:${channel}:${JSON.stringify(data)}`));
    c.on('unsubscribed', ({ channel }) => events.push(`unsubscribed:${channel}`));
    await h.hub.subscribe(c.clientId, 'chat:notifications');
    await until(() => events.length === 1, 2000, 'the subscribed event');
    await h.hub.publish('chat:notifications', { hello: 1 });
    await until(() => events.length === 2, 2000, 'the publication');
    await h.hub.unsubscribe(c.clientId, 'chat:notifications');
    await until(() => events.length === 3, 2000, 'the unsubscribed event');
    assert.deepEqual(events, ['subscribed:chat:notifications:0', 'publication:chat:notifications:{"hello":1}', 'unsubscribed:chat:notifications']);
  });
});

describe('rpc', () => {
  test('rpc returns what the hub handler returned', T, async () => {
    const h = await hub({ hooks: { onRpc: ({ method, data }) => ({ method, echo: data }) } });
    const c = await client(h.base);
    assert.deepEqual(await c.rpc('orders.get', { id: 17 }), { method: 'orders.get', echo: { id: 17 } });
  });

  test('rpc without a handler rejects with method_not_found', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    await assert.rejects(c.rpc('nothing'), (e: VolleyError) => e.code === 'method_not_found');
  });

  test('ping measures a round trip', T, async () => {
    const h = await hub();
    const c = await client(h.base);
    const rtt = await c.ping();
    assert.ok(rtt >= 0 && rtt < 2000);
  });
});

describe('timeouts and idempotent retries', () => {
  test('a publish without an ack in time rejects with VOLLEY_ERR_TIMEOUT; a retry with its key publishes once', T, async () => {
    let slow = true;
    const h = await hub({
      hooks: {
        onPublish: async () => {
          if (slow) {
            slow = false;
            await sleep(300);
          }
        },
      },
    });
    const c = await client(h.base, { publishTimeoutMs: 100 });
    const room = c.channel<Chat>('chat:slow');
    const error = await room.publish({ text: 'once' }).then(
      () => assert.fail('the publish should time out'),
      (e: unknown) => e as VolleyError,
    );
    assert.equal(error.code, ClientErrorCode.TIMEOUT);
    assert.ok(error.idempotencyKey);
    await sleep(300); // the hub is still working on the first one
    const ack = await room.publish({ text: 'once' }, { idempotencyKey: error.idempotencyKey! });
    assert.equal(ack.offset, 1);
    const { publications } = await room.history();
    assert.deepEqual(publications.map((p) => p.data.text), ['once']);
  });
});

describe('caller errors', () => {
  test('invalid arguments throw synchronously with VOLLEY_ERR_INVALID_ARGUMENT', () => {
    const invalid = (e: unknown): boolean => e instanceof VolleyError && e.code === ClientErrorCode.INVALID_ARGUMENT;
    assert.throws(() => new Volley('ftp://example.com', { WebSocket }), invalid);
    assert.throws(() => new Volley('http://example.com', { WebSocket, reconnect: { minDelayMs: 10, maxDelayMs: 5 } }), invalid);
    assert.throws(() => new Volley('http://example.com', { WebSocket, transports: ['carrier-pigeon' as never] }), invalid);
    assert.throws(() => new Volley('http://example.com', { WebSocket, outbox: { maxMessages: -1 } }), invalid);
    const c = new Volley('http://example.com', { WebSocket });
    assert.throws(() => c.channel('chat::room'), invalid);
    assert.throws(() => c.channel('constructor'), invalid);
    assert.throws(() => c.publish('chat:a', undefined), invalid);
    assert.throws(() => c.publish('chat:a', { n: 1n }), invalid);
    assert.throws(() => c.publish('chat:a', 1, { idempotencyKey: '' }), invalid);
    assert.throws(() => c.history('chat:a', { limit: 5000 }), invalid);
  });

  test('no usable transport throws VOLLEY_ERR_NO_TRANSPORT', () => {
    assert.throws(
      () => new Volley('http://example.com', { transports: ['websocket'] }),
      (e: unknown) => e instanceof VolleyError && e.code === ClientErrorCode.NO_TRANSPORT,
    );
  });
});

describe('the outbox bound', () => {
  test('over outbox.maxMessages a publish rejects with VOLLEY_ERR_OUTBOX_FULL; disconnect() fails the queued ones', async () => {
    const c = new Volley('http://127.0.0.1:9', { WebSocket, outbox: { maxMessages: 2 }, reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 } });
    await assert.rejects(c.publish('chat:a', 0), (e: VolleyError) => e.code === ClientErrorCode.DISCONNECTED, 'not started');
    c.connect();
    const first = c.publish('chat:a', 1);
    const second = c.publish('chat:a', 2);
    await assert.rejects(c.publish('chat:a', 3), (e: VolleyError) => e.code === ClientErrorCode.OUTBOX_FULL);
    assert.equal(c.outboxSize, 2);
    c.disconnect();
    await assert.rejects(first, (e: VolleyError) => e.code === ClientErrorCode.DISCONNECTED && e.idempotencyKey !== undefined);
    await assert.rejects(second, (e: VolleyError) => e.code === ClientErrorCode.DISCONNECTED);
    assert.equal(c.outboxSize, 0);
  });
});
