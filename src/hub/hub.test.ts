/**
 * The hub over real WebSockets, in both encodings: every command (connect, subscribe, unsubscribe, publish,
 * presence, history, rpc, ping, refresh), the server-side API (publish, subscribe, unsubscribe, disconnect,
 * shutdown), and what a malformed or hostile command does to its sender and to nobody else.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode } from '@msgpack/msgpack';

import { createTokenVerifier } from './auth.js';
import { HubError } from './errors.js';
import { MemoryPresenceStore } from '../engines/index.js';
import { noopMetrics } from './metrics.js';
import { errorCode, HubClient, type HubClientOptions, type HubMessage } from './testing/hub-client.js';
import { LaggyPresenceStore } from './testing/laggy-presence.js';
import { hubScope } from './testing/hub-scope.js';
import type { StartedHub, StartHubOptions } from './testing/start-hub.js';
import { TEST_SECRET, mintToken } from './testing/tokens.js';
import type { Encoding } from './wire.js';

const scope = hubScope();
const T = { timeout: 10_000 };

/** Test-only identity: the `x-test-user` request header names the user (through the onConnect hook). */
const userFromHeader: NonNullable<StartHubOptions['hooks']>['onConnect'] = ({ request }) => {
  const user = request.headers['x-test-user'];
  return typeof user === 'string' ? { userId: user } : undefined;
};

const hub = (options: StartHubOptions = {}): Promise<StartedHub> => scope.hub(options);

/** The hub most tests share: anonymous clients allowed, open namespaces, an onRpc hook. */
const main = await hub({
  allowAnonymous: true,
  verifier: createTokenVerifier({ hmacSecret: TEST_SECRET }),
  limits: { connectTimeoutMs: 300 },
  rateLimits: { connection: false },
  namespaces: {
    default: { subscribe: 'anyone', publish: 'anyone', history: 'anyone', presenceQuery: 'anyone' },
    namespaces: {
      nohist: { historySize: 0 },
      room: { presence: true, joinLeave: true },
      big: { presence: true, countsOnly: true },
    },
  },
  hooks: {
    onConnect: userFromHeader,
    onRpc: ({ method, data, userId }) => {
      if (method === 'echo') return { echo: data, userId };
      if (method === 'deny') throw new HubError('permission_denied', 'not for you');
      throw new Error('secret internal detail');
    },
  },
});

let unique = 0;
/** A channel name no other test uses. */
const channel = (ns = ''): string => `${ns === '' ? '' : `${ns}:`}c${++unique}`;

function open(started: StartedHub = main, options: HubClientOptions = {}): Promise<HubClient> {
  return scope.open(started, options);
}

/** An open client that sent `connect` (anonymous unless `user` is given). */
async function connected(encoding: Encoding = 'json', user?: string, started: StartedHub = main): Promise<{ client: HubClient; clientId: string }> {
  const client = await open(started, { encoding, ...(user !== undefined ? { headers: { 'x-test-user': user } } : {}) });
  const result = await client.connect();
  return { client, clientId: result.clientId as string };
}

const isPublication = (ch: string) => (push: HubMessage) => push['type'] === 'publication' && push['channel'] === ch;

/** The disconnect push and the close that follows it. */
async function disconnectOf(client: HubClient, timeoutMs = 2000): Promise<{ push: HubMessage; code: number }> {
  const push = await client.nextPush((p) => p['type'] === 'disconnect', timeoutMs);
  const { code } = await client.waitClosed(timeoutMs);
  return { push, code };
}

for (const encoding of ['json', 'msgpack'] as const) {
  describe(`every command over ${encoding}`, () => {
    test('connect without a token gives an anonymous session with a client id, the ping interval and the server name', T, async () => {
      const client = await open(main, { encoding });
      const result = await client.connect(undefined, { name: 'volley-test', version: '1.0' });
      assert.match(result.clientId, /^[0-9a-f-]{36}$/);
      assert.equal(result.userId, '');
      assert.equal(typeof result.pingIntervalMs, 'number');
      assert.deepEqual(result.server, { name: 'volley', version: '0' });
      assert.equal(result.expiresAt, undefined);
    });

    test('connect without a token is refused with disconnect 4500 where anonymous access is off', T, async () => {
      const strict = await hub({ verifier: createTokenVerifier({ hmacSecret: TEST_SECRET }) });
      const client = await open(strict, { encoding });
      client.send('connect');
      const { push, code } = await disconnectOf(client);
      assert.equal(push['code'], 4500);
      assert.equal(push['reconnect'], false);
      assert.equal(code, 4500);
    });

    test('connect with subscriptions subscribes in the same round trip and reports each channel’s result or error', T, async () => {
      const ch = channel();
      const client = await open(main, { encoding });
      const result = await client.connect(undefined, { subscriptions: { [ch]: {}, 'room:x': { recover: { epoch: 'e', offset: 3 } } } });
      assert.deepEqual(result.subscriptions[ch], { epoch: result.subscriptions[ch].epoch, offset: 0, recovered: false, publications: [] });
      assert.equal(typeof result.subscriptions['room:x'].epoch, 'string');
      assert.equal(result.subscriptions['room:x'].recovered, false);
      assert.equal(await errorCode(client.ok('subscribe', { channel: ch })), 'already_subscribed');
    });

    test('subscribe answers already_subscribed the second time and unsubscribe answers not_subscribed when not subscribed', T, async () => {
      const { client } = await connected(encoding);
      const ch = channel();
      const result = await client.ok('subscribe', { channel: ch });
      assert.equal(typeof result.epoch, 'string');
      assert.equal(result.offset, 0);
      assert.equal(result.recovered, false);
      assert.deepEqual(result.publications, []);
      assert.equal(await errorCode(client.ok('subscribe', { channel: ch })), 'already_subscribed');
      assert.deepEqual(await client.ok('unsubscribe', { channel: ch }), {});
      assert.equal(await errorCode(client.ok('unsubscribe', { channel: ch })), 'not_subscribed');
      // Subscribing again after unsubscribing works.
      await client.ok('subscribe', { channel: ch });
    });

    test('publish reaches every subscriber on other connections with increasing offsets, and the publisher gets {epoch, offset}', T, async () => {
      const ch = channel();
      const json = await connected('json');
      const msgpack = await connected('msgpack');
      const subscribed = await json.client.ok('subscribe', { channel: ch });
      await msgpack.client.ok('subscribe', { channel: ch });
      const publisher = await connected(encoding);
      const results = [];
      for (let i = 1; i <= 3; i++) results.push(await publisher.client.ok('publish', { channel: ch, data: { n: i, text: 'héllo ✓' } }));
      assert.deepEqual(results, [1, 2, 3].map((offset) => ({ epoch: subscribed.epoch, offset })));
      for (const subscriber of [json.client, msgpack.client]) {
        for (let i = 1; i <= 3; i++) {
          const push = await subscriber.nextPush(isPublication(ch));
          assert.equal(push['offset'], i);
          assert.deepEqual(push['data'], { n: i, text: 'héllo ✓' });
          assert.deepEqual(push['info'], { clientId: publisher.clientId, userId: '' });
          assert.equal(typeof push['time'], 'number');
        }
      }
      // The publisher is not subscribed: it got replies only.
      await publisher.client.ok('ping');
      assert.deepEqual(publisher.client.queued(), []);
    });

    test('publish with the same idempotency key twice returns the same offset and delivers one publication', T, async () => {
      const ch = channel();
      const { client: subscriber } = await connected('json');
      await subscriber.ok('subscribe', { channel: ch });
      const { client } = await connected(encoding);
      const first = await client.ok('publish', { channel: ch, data: 'once', idempotencyKey: 'k-1' });
      const second = await client.ok('publish', { channel: ch, data: 'twice?', idempotencyKey: 'k-1' });
      assert.deepEqual(second, first);
      const third = await client.ok('publish', { channel: ch, data: 'next' });
      assert.equal(third.offset, first.offset + 1);
      assert.equal((await subscriber.nextPush(isPublication(ch)))['data'], 'once');
      assert.equal((await subscriber.nextPush(isPublication(ch)))['data'], 'next');
      await subscriber.ok('ping');
      assert.deepEqual(subscriber.queued(isPublication(ch)), []);
    });

    test('publish in a namespace without history answers offset 0, delivers offset 0, and dedupes by key too', T, async () => {
      const ch = channel('nohist');
      const { client: subscriber } = await connected('msgpack');
      assert.deepEqual(await subscriber.ok('subscribe', { channel: ch }), { epoch: '', offset: 0, recovered: false, publications: [] });
      const { client } = await connected(encoding);
      assert.deepEqual(await client.ok('publish', { channel: ch, data: 1, idempotencyKey: 'x' }), { epoch: '', offset: 0 });
      assert.deepEqual(await client.ok('publish', { channel: ch, data: 2, idempotencyKey: 'x' }), { epoch: '', offset: 0 });
      assert.deepEqual(await client.ok('publish', { channel: ch, data: 3 }), { epoch: '', offset: 0 });
      assert.deepEqual((await subscriber.nextPush(isPublication(ch)))['data'], 1);
      assert.deepEqual((await subscriber.nextPush(isPublication(ch)))['data'], 3);
      assert.equal(await errorCode(client.ok('history', { channel: ch })), 'unavailable');
    });

    test('presence lists one member per connection and counts a user on two connections once; join and leave are pushed', T, async () => {
      const ch = channel('room');
      const a = await connected(encoding, 'alice');
      await a.client.ok('subscribe', { channel: ch, presenceData: { status: 'here' } });
      const b = await connected('json', 'alice');
      await b.client.ok('subscribe', { channel: ch });
      const joinB = await a.client.nextPush((p) => p['type'] === 'join');
      assert.deepEqual(joinB, { type: 'join', channel: ch, info: { clientId: b.clientId, userId: 'alice' } });
      const c = await connected('msgpack', 'bob');
      await c.client.ok('subscribe', { channel: ch });
      for (const member of [a, b]) {
        const join = await member.client.nextPush((p) => p['type'] === 'join' && p['info'].clientId === c.clientId);
        assert.equal(join['info'].userId, 'bob');
      }
      const presence = await a.client.ok('presence', { channel: ch });
      assert.equal(presence.clients, 3);
      assert.equal(presence.users, 2);
      const members = new Map((presence.members as HubMessage[]).map((m) => [m['clientId'], m]));
      assert.deepEqual(members.get(a.clientId), { clientId: a.clientId, userId: 'alice', data: { status: 'here' } });
      assert.deepEqual(members.get(b.clientId), { clientId: b.clientId, userId: 'alice' });
      assert.deepEqual(members.get(c.clientId), { clientId: c.clientId, userId: 'bob' });
      assert.deepEqual(await a.client.ok('presence', { channel: ch, countsOnly: true }), { clients: 3, users: 2 });

      await b.client.ok('unsubscribe', { channel: ch });
      const leaveB = await a.client.nextPush((p) => p['type'] === 'leave');
      assert.deepEqual(leaveB, { type: 'leave', channel: ch, info: { clientId: b.clientId, userId: 'alice' } });
      await c.client.close();
      const leaveC = await a.client.nextPush((p) => p['type'] === 'leave');
      assert.equal(leaveC['info'].clientId, c.clientId);
      assert.deepEqual(await a.client.ok('presence', { channel: ch, countsOnly: true }), { clients: 1, users: 1 });
    });

    test(
      'presence data given at subscribe survives the hub’s periodic presence refresh',
      T,
      async () => {
        const refreshing = await hub({
          allowAnonymous: true,
          limits: { presenceTtlMs: 1500 },
          namespaces: { default: { subscribe: 'anyone', presenceQuery: 'anyone', presence: true } },
        });
        const client = await open(refreshing, { encoding });
        const { clientId } = await client.connect();
        await client.ok('subscribe', { channel: 'lobby', presenceData: { status: 'here' } });
        // The hub refreshes presence entries every presenceTtlMs / 3, checked by its one-second sweep.
        await new Promise((resolve) => setTimeout(resolve, 2200));
        const presence = await client.ok('presence', { channel: 'lobby' });
        assert.deepEqual(presence.members, [{ clientId, userId: '', data: { status: 'here' } }]);
      },
    );

    test(
      'a client that disconnects while its presence join is on the way leaves no ghost member and no join after its leave',
      T,
      async (t) => {
        const presence = new LaggyPresenceStore(new MemoryPresenceStore(), { addDelayMs: 40 });
        const laggy = await hub({
          allowAnonymous: true,
          presence,
          namespaces: { default: { subscribe: 'anyone', presenceQuery: 'anyone', presence: true, joinLeave: true } },
        });
        t.after(() => presence.close());
        const observer = await open(laggy, { encoding });
        await observer.connect();
        await observer.ok('subscribe', { channel: 'lobby' });
        const leaver = await open(laggy, { encoding });
        const { clientId } = await leaver.connect();
        leaver.send('subscribe', { channel: 'lobby' });
        await new Promise((resolve) => setTimeout(resolve, 10));
        leaver.terminate();
        await new Promise((resolve) => setTimeout(resolve, 150));
        const events = observer.queued((p) => p['info']?.clientId === clientId).map((p) => p['type']);
        assert.notDeepEqual(events.at(-1), 'join', `the last event about the leaver is not a join (${events.join(', ')})`);
        const members = (await observer.ok('presence', { channel: 'lobby' })).members as HubMessage[];
        assert.deepEqual(members.map((m) => m['clientId']).filter((id) => id === clientId), [], 'no ghost member');
      },
    );

    test('presence in a counts-only namespace returns counts and never the member list', T, async () => {
      const ch = channel('big');
      const a = await connected(encoding, 'alice');
      const b = await connected(encoding, 'bob');
      await a.client.ok('subscribe', { channel: ch });
      await b.client.ok('subscribe', { channel: ch });
      assert.deepEqual(await a.client.ok('presence', { channel: ch }), { clients: 2, users: 2 });
      // No join/leave in this namespace.
      await b.client.ok('unsubscribe', { channel: ch });
      await a.client.ok('ping');
      assert.deepEqual(a.client.queued((p) => p['type'] === 'join' || p['type'] === 'leave'), []);
      // Presence is off where the namespace does not enable it.
      assert.equal(await errorCode(a.client.ok('presence', { channel: channel() })), 'unavailable');
    });

    test('history honours since, limit and reverse', T, async () => {
      const ch = channel();
      const { client } = await connected(encoding);
      for (let i = 1; i <= 5; i++) await client.ok('publish', { channel: ch, data: i });
      const offsets = (page: { publications: HubMessage[] }) => page.publications.map((p) => p['offset']);
      const all = await client.ok('history', { channel: ch });
      assert.equal(all.offset, 5);
      assert.deepEqual(offsets(all), [1, 2, 3, 4, 5]);
      assert.deepEqual(all.publications.map((p: HubMessage) => p['data']), [1, 2, 3, 4, 5]);
      assert.deepEqual(offsets(await client.ok('history', { channel: ch, since: 2 })), [3, 4, 5]);
      assert.deepEqual(offsets(await client.ok('history', { channel: ch, since: 2, limit: 2 })), [3, 4]);
      assert.deepEqual(offsets(await client.ok('history', { channel: ch, reverse: true, limit: 2 })), [5, 4]);
      assert.deepEqual(offsets(await client.ok('history', { channel: ch, since: 3, reverse: true })), [5, 4]);
      assert.deepEqual(offsets(await client.ok('history', { channel: ch, since: 5 })), []);
      assert.deepEqual(offsets(await client.ok('history', { channel: ch, limit: 0 })), []);
      assert.equal((await client.ok('history', { channel: ch })).epoch, all.epoch);
    });

    test('rpc returns what onRpc returns; a HubError becomes its error reply and any other error an opaque internal one', T, async () => {
      const { client } = await connected(encoding, 'erin');
      assert.deepEqual(await client.ok('rpc', { method: 'echo', data: { a: [1, 2] } }), { data: { echo: { a: [1, 2] }, userId: 'erin' } });
      assert.equal(await errorCode(client.ok('rpc', { method: 'deny' })), 'permission_denied');
      const reply = await client.call('rpc', { method: 'crash' });
      assert.deepEqual(reply.error, { code: 'internal', message: 'internal error' });
      // The connection is still usable.
      await client.ok('ping');
    });

    test('rpc answers method_not_found on a hub without an onRpc hook', T, async () => {
      const bare = await hub({ allowAnonymous: true });
      const client = await open(bare, { encoding });
      await client.connect();
      assert.equal(await errorCode(client.ok('rpc', { method: 'anything', data: null })), 'method_not_found');
    });

    test('ping answers an empty result', T, async () => {
      const { client } = await connected(encoding);
      assert.deepEqual(await client.ok('ping'), {});
    });

    test('refresh with a new token of the same user moves expiresAt; a token of another user is refused', T, async () => {
      const client = await open(main, { encoding });
      const first = await client.connect(await mintToken({ sub: 'carol' }, { expiresInSec: 60 }));
      assert.equal(first.userId, 'carol');
      assert.equal(typeof first.expiresAt, 'number');
      const refreshed = await client.ok('refresh', { token: await mintToken({ sub: 'carol' }, { expiresInSec: 3600 }) });
      assert.ok(refreshed.expiresAt > first.expiresAt + 3000_000);
      assert.equal(await errorCode(client.ok('refresh', { token: await mintToken({ sub: 'mallory' }, { expiresInSec: 3600 }) })), 'permission_denied');
      await client.ok('ping');
    });
  });
}

describe('server-side API', () => {
  test('hub.publish reaches subscribers with the next offset and no publisher info', T, async () => {
    const ch = channel();
    const { client } = await connected('msgpack');
    const subscribed = await client.ok('subscribe', { channel: ch });
    const result = await main.hub.publish(ch, { from: 'server' });
    assert.deepEqual(result, { epoch: subscribed.epoch, offset: 1 });
    const push = await client.nextPush(isPublication(ch));
    assert.deepEqual(push['data'], { from: 'server' });
    assert.equal(push['info'], undefined);
  });

  test('hub.subscribe pushes subscribed, then publications flow; hub.unsubscribe pushes unsubscribed and stops them', T, async () => {
    const ch = channel();
    const { client, clientId } = await connected('json');
    await main.hub.publish(ch, 'before');
    await main.hub.subscribe(clientId, ch);
    const subscribed = await client.nextPush((p) => p['type'] === 'subscribed');
    assert.equal(subscribed['channel'], ch);
    assert.equal(subscribed['offset'], 1);
    assert.equal(typeof subscribed['epoch'], 'string');
    await main.hub.publish(ch, 'after');
    const push = await client.nextPush(isPublication(ch));
    assert.equal(push['offset'], 2);
    assert.equal(push['data'], 'after');
    // The client sees the server-made subscription as its own.
    assert.equal(await errorCode(client.ok('subscribe', { channel: ch })), 'already_subscribed');

    await main.hub.unsubscribe(clientId, ch, 'moderated');
    assert.deepEqual(await client.nextPush((p) => p['type'] === 'unsubscribed'), { type: 'unsubscribed', channel: ch, reason: 'moderated' });
    await main.hub.publish(ch, 'gone');
    await client.ok('ping');
    assert.deepEqual(client.queued(isPublication(ch)), []);
    await assert.rejects(main.hub.subscribe('no-such-client', ch), { code: 'not_found' });
  });

  test('hub.disconnect by user closes every connection of that user with 4004, or 4504 when it must not reconnect', T, async () => {
    const a = await connected('json', 'dave');
    const b = await connected('msgpack', 'dave');
    const other = await connected('json', 'frank');
    assert.equal(main.hub.disconnect({ userId: 'dave' }, { reason: 'password changed' }), 2);
    for (const { client } of [a, b]) {
      const { push, code } = await disconnectOf(client);
      assert.deepEqual(push, { type: 'disconnect', code: 4004, reason: 'password changed', reconnect: true });
      assert.equal(code, 4004);
    }
    await other.client.ok('ping');

    const kicked = await connected('json', 'gina');
    assert.equal(main.hub.disconnect({ clientId: kicked.clientId }, { reconnect: false }), 1);
    const { push, code } = await disconnectOf(kicked.client);
    assert.equal(push['code'], 4504);
    assert.equal(push['reconnect'], false);
    assert.equal(code, 4504);
    assert.equal(main.hub.disconnect({ userId: 'nobody-at-all' }), 0);
  });

  test(
    'hub.disconnect with a long non-ASCII reason still closes with 4004',
    T,
    async () => {
      const { client, clientId } = await connected('json');
      main.hub.disconnect({ clientId }, { reason: 'déconnecté par la modération — '.repeat(5) });
      const { push, code } = await disconnectOf(client);
      assert.equal(push['code'], 4004);
      assert.equal(code, 4004);
    },
  );
});

describe('delivery metrics', () => {
  test('count the UTF-8 bytes sent, not UTF-16 units (regression: non-ASCII data was undercounted)', T, async () => {
    const delivered: number[] = [];
    const started = await hub({
      allowAnonymous: true,
      rateLimits: { connection: false },
      namespaces: { default: { subscribe: 'anyone', publish: 'anyone' } },
      metrics: { ...noopMetrics, delivered: (_ns, _count, bytes) => delivered.push(bytes) },
    });
    const ch = channel();
    const subscriber = await connected('json', undefined, started);
    await subscriber.client.ok('subscribe', { channel: ch });
    const { offset } = (await started.hub.publish(ch, { text: 'Grüße €✓' })) as { offset: number };
    const push = await subscriber.client.nextPush(isPublication(ch));
    assert.equal(push['offset'], offset);
    assert.deepEqual(push['data'], { text: 'Grüße €✓' });
    const frame = JSON.stringify(subscriber.client.log.at(-1));
    assert.deepEqual(delivered, [Buffer.byteLength(frame)]);
    assert.ok(Buffer.byteLength(frame) > frame.length, 'the test data is not ASCII');
  });
});

describe('malformed and hostile commands', () => {
  test('malformed JSON ends the session with disconnect 4501', T, async () => {
    const { client } = await connected('json');
    client.sendRaw('{"id": 1, "type": "ping"');
    const { push, code } = await disconnectOf(client);
    assert.equal(push['code'], 4501);
    assert.equal(push['reconnect'], false);
    assert.equal(code, 4501);
  });

  test('malformed MessagePack and a text frame on the MessagePack protocol end the session with 4501', T, async () => {
    for (const frame of [new Uint8Array([0xc1]), new Uint8Array([0x92, 0x01]), '{"id":1,"type":"ping"}']) {
      const { client } = await connected('msgpack');
      client.sendRaw(frame);
      assert.equal((await disconnectOf(client)).code, 4501);
    }
    const { client } = await connected('json');
    client.sendRaw(new Uint8Array(Buffer.from('{"id":1,"type":"ping"}')));
    assert.equal((await disconnectOf(client)).code, 4501);
  });

  test('a command without a valid id ends the session with 4501', T, async () => {
    for (const message of [[], 'ping', { type: 'ping' }, { id: 0, type: 'ping' }, { id: 1.5, type: 'ping' }, { id: '1', type: 'ping' }]) {
      const { client } = await connected('json');
      client.sendMessage(message);
      assert.equal((await disconnectOf(client)).code, 4501, JSON.stringify(message));
    }
  });

  for (const encoding of ['json', 'msgpack'] as const) {
    test(`an unknown field or command type gets a bad_request reply over ${encoding} and the connection stays usable`, T, async () => {
      const { client } = await connected(encoding);
      const unknownField = await client.call('ping', { extra: 1 });
      assert.equal(unknownField.error?.code, 'bad_request');
      const unknownType = await client.call('teleport', {});
      assert.equal(unknownType.error?.code, 'bad_request');
      const protoType = await client.call('__proto__', {});
      assert.equal(protoType.error?.code, 'bad_request');
      const badChannel = await client.call('subscribe', { channel: 42 });
      assert.equal(badChannel.error?.code, 'bad_request');
      assert.deepEqual(await client.ok('ping'), {});
    });
  }

  test('a malformed command from one client never affects another client', T, async () => {
    const ch = channel();
    const { client: bystander } = await connected('json');
    await bystander.ok('subscribe', { channel: ch });
    const { client: publisher } = await connected('msgpack');
    const attackers = await Promise.all([connected('json'), connected('msgpack'), connected('json')]);
    attackers[0]!.client.sendRaw('}{');
    attackers[1]!.client.sendRaw(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]));
    attackers[2]!.client.sendRaw(`{"id":1,"type":"publish","channel":"${ch}","data":${'['.repeat(10_000)}`);
    await Promise.all(attackers.map(({ client }) => client.waitClosed()));
    await publisher.ok('publish', { channel: ch, data: 'still here' });
    assert.equal((await bystander.nextPush(isPublication(ch)))['data'], 'still here');
    assert.deepEqual(await bystander.ok('ping'), {});
  });

  test('__proto__ and constructor.prototype payloads leave Object.prototype unchanged', T, async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const ch = channel();
    const { client: subscriber } = await connected('json');
    await subscriber.ok('subscribe', { channel: ch });

    // __proto__ as a key anywhere is refused by the codec: the sender is disconnected.
    const json = await connected('json');
    json.client.sendRaw(`{"id":1,"type":"publish","channel":"${ch}","data":{"__proto__":{"polluted":"yes"}}}`);
    assert.equal((await disconnectOf(json.client)).code, 4501);
    const top = await connected('json');
    top.client.sendRaw('{"id":1,"type":"ping","__proto__":{"polluted":"yes"}}');
    assert.equal((await disconnectOf(top.client)).code, 4501);
    const msgpack = await connected('msgpack');
    const hostile = JSON.parse(`{"id":1,"type":"publish","channel":"${ch}","data":{"a":{"__proto__":{"polluted":"yes"}}}}`);
    msgpack.client.sendRaw(encode(hostile));
    assert.equal((await disconnectOf(msgpack.client)).code, 4501);

    // constructor/prototype are ordinary keys: published as data, delivered as data.
    const { client: publisher } = await connected('msgpack');
    const data = { constructor: { prototype: { polluted: 'yes' } }, prototype: { polluted: 'yes' } };
    await publisher.ok('publish', { channel: ch, data });
    assert.deepEqual((await subscriber.nextPush(isPublication(ch)))['data'], data);
    assert.equal(subscriber.queued(isPublication(ch)).length, 0, 'the refused publications were never delivered');

    // Object.prototype keys are refused as namespaces (bad_request) and are ordinary names after it.
    for (const name of ['__proto__', 'constructor', '__proto__:x', 'constructor:prototype', 'toString']) {
      assert.equal(await errorCode(subscriber.ok('subscribe', { channel: name })), 'bad_request', name);
    }
    for (const name of ['x:__proto__', 'x:constructor', 'x:prototype:toString']) {
      await subscriber.ok('subscribe', { channel: name });
      await publisher.ok('publish', { channel: name, data: name });
      assert.equal((await subscriber.nextPush(isPublication(name)))['data'], name);
      assert.equal((await subscriber.ok('history', { channel: name })).publications.length, 1);
    }

    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), before);
  });

  test('a first command other than connect ends the session with 4501', T, async () => {
    for (const encoding of ['json', 'msgpack'] as const) {
      const client = await open(main, { encoding });
      client.send('ping');
      const { push, code } = await disconnectOf(client);
      assert.equal(push['code'], 4501);
      assert.equal(code, 4501);
    }
  });

  test(
    'commands pipelined right after connect, without waiting for its reply, are handled after it',
    T,
    async () => {
      const ch = channel();
      const client = await open(main, { encoding: 'json' });
      const connectId = client.send('connect');
      const subscribeId = client.send('subscribe', { channel: ch });
      const pingId = client.send('ping');
      const replies = await Promise.all([client.reply(connectId), client.reply(subscribeId), client.reply(pingId)]);
      assert.deepEqual(replies.map((reply) => reply.error), [undefined, undefined, undefined]);
      assert.equal(replies[1]!.result.recovered, false);
    },
  );

  test('connect twice is refused with bad_request', T, async () => {
    const { client } = await connected('json');
    assert.equal(await errorCode(client.connect()), 'bad_request');
    await client.ok('ping');
  });

  test('a connection that sends no connect within connectTimeoutMs is closed with 4003', T, async () => {
    const client = await open(main, { encoding: 'json' });
    const openedAt = performance.now();
    const { push, code } = await disconnectOf(client, 5000);
    assert.equal(push['code'], 4003);
    assert.equal(push['reconnect'], true);
    assert.equal(code, 4003);
    // connectTimeoutMs is 300 and the hub sweeps once a second (the margin is for a loaded machine).
    const elapsed = performance.now() - openedAt;
    assert.ok(elapsed >= 300 && elapsed < 3000, `closed after ${elapsed} ms`);
  });
});

describe('shutdown', () => {
  test('hub.shutdown sends every client a disconnect push with 1001, reconnect advice and a delay, then closes with 1001', T, async () => {
    const draining = await hub({ allowAnonymous: true, namespaces: { default: { subscribe: 'anyone' } } });
    const all = await Promise.all(
      (['json', 'msgpack', 'json'] as const).map(async (encoding) => {
        const client = await open(draining, { encoding });
        await client.connect();
        await client.ok('subscribe', { channel: 'news' });
        return client;
      }),
    );
    draining.hub.shutdown({ reconnectWindowMs: 2000 });
    for (const client of all) {
      const { push, code } = await disconnectOf(client);
      assert.equal(push['code'], 1001);
      assert.equal(push['reconnect'], true);
      assert.ok(Number.isInteger(push['reconnectAfterMs']) && push['reconnectAfterMs'] >= 0 && push['reconnectAfterMs'] < 2000);
      assert.equal(code, 1001);
    }
    assert.equal(draining.hub.sessionCount, 0);
    // A connection that arrives during the drain is told the same at once.
    const late = await open(draining, { encoding: 'json' });
    const { push, code } = await disconnectOf(late);
    assert.equal(push['code'], 1001);
    assert.equal(code, 1001);
  });
});
