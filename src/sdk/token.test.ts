/**
 * Tokens: the SDK refreshes an expiring token through `getToken` and the `refresh` command before the hub
 * would end the connection, fetches a new one when the hub says it expired (4002), and stops on 4500.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createTokenVerifier } from '../hub/auth.js';
import { mintToken, TEST_SECRET } from '../hub/testing/tokens.js';
import { WebSocket } from '../socket/index.js';
import { sleep, testScope, until, type TestHub } from './harness.test.js';
import { tokenRefreshDelay, Volley, VolleyError, type DisconnectedEvent } from './index.js';

const T = { timeout: 15_000 };
const scope = testScope();

function authHub(): Promise<TestHub> {
  return scope.hub({ allowAnonymous: false, verifier: createTokenVerifier({ hmacSecret: TEST_SECRET }) });
}

function newClient(base: string, options: ConstructorParameters<typeof Volley>[1]): Volley {
  return scope.track(new Volley(base, { WebSocket, transports: ['websocket'], reconnect: { minDelayMs: 20, maxDelayMs: 100 }, ...options }));
}

describe('token refresh', () => {
  test('the refresh delay is 85 % of the lifetime, at most 10 s before expiry, at least half of it', () => {
    assert.equal(tokenRefreshDelay(3_600_000), 3_060_000);
    assert.equal(tokenRefreshDelay(60_000), 50_000);
    assert.equal(tokenRefreshDelay(3000), 1500);
    assert.equal(tokenRefreshDelay(-5), 0);
  });

  test('refreshes an expiring token on the live connection, so the hub never ends it', T, async () => {
    const h = await authHub();
    let minted = 0;
    const c = newClient(h.base, {
      getToken: () => {
        minted++;
        return mintToken({ sub: 'alice' }, { expiresInSec: 2 });
      },
    });
    const disconnected: DisconnectedEvent[] = [];
    c.on('disconnected', (e) => disconnected.push(e));
    c.connect();
    await c.ready(5000);
    const clientId = c.clientId;
    await sleep(3500); // past the first token's expiry
    assert.equal(c.clientId, clientId, 'the same connection');
    assert.deepEqual(disconnected, []);
    assert.ok(minted >= 3, `getToken was called ${minted} times`);
    assert.ok(h.hub.session(clientId)!.expiresAt > Date.now(), 'the hub has the new expiry');
  });

  test('after 4002 (token expired) it fetches a new token before reconnecting', T, async () => {
    const h = await authHub();
    let calls = 0;
    const c = newClient(h.base, {
      token: await mintToken({ sub: 'bob' }, { expiresInSec: -60 }),
      getToken: () => {
        calls++;
        return mintToken({ sub: 'bob' }, { expiresInSec: 600 });
      },
    });
    const disconnected: DisconnectedEvent[] = [];
    c.on('disconnected', (e) => disconnected.push(e));
    c.connect();
    await c.ready(5000);
    assert.equal(c.userId, 'bob');
    assert.equal(calls, 1);
    assert.equal(disconnected[0]?.code, 4002);
    assert.equal(disconnected[0]?.reconnect, true);
  });

  test('without getToken, 4002 stops the client', T, async () => {
    const h = await authHub();
    const c = newClient(h.base, { token: await mintToken({ sub: 'bob' }, { expiresInSec: -60 }) });
    c.connect();
    await until(() => c.state === 'disconnected', 3000, 'the stop');
    await sleep(150);
    assert.equal(h.hub.sessionCount, 0);
  });

  test('an invalid token (4500) stops the client: it does not retry', T, async () => {
    const h = await authHub();
    const c = newClient(h.base, { token: 'not.a.token' });
    const disconnected: DisconnectedEvent[] = [];
    c.on('disconnected', (e) => disconnected.push(e));
    c.connect();
    await until(() => c.state === 'disconnected', 3000, 'the stop');
    await sleep(150);
    assert.equal(disconnected.length, 1);
    assert.equal(disconnected[0]!.code, 4500);
    assert.equal(disconnected[0]!.reconnect, false);
  });

  test('a getToken failure is reported as an error and retried', T, async () => {
    const h = await authHub();
    let calls = 0;
    const c = newClient(h.base, {
      getToken: async () => {
        calls++;
        if (calls === 1) throw new Error('backend down');
        return mintToken({ sub: 'carol' }, { expiresInSec: 600 });
      },
    });
    const errors: string[] = [];
    c.on('error', ({ error }) => errors.push(error.code));
    c.connect();
    await c.ready(5000);
    assert.deepEqual(errors, ['VOLLEY_ERR_TOKEN']);
    assert.equal(c.userId, 'carol');
  });

  test('getToken throwing a VolleyError with code unauthorized stops the client', T, async () => {
    const h = await authHub();
    const c = newClient(h.base, {
      getToken: () => {
        throw new VolleyError('unauthorized', 'signed out');
      },
    });
    const disconnected: DisconnectedEvent[] = [];
    c.on('disconnected', (e) => disconnected.push(e));
    c.connect();
    await until(() => c.state === 'disconnected', 3000, 'the stop');
    assert.deepEqual(disconnected, [{ code: 4500, reason: 'signed out', reconnect: false }]);
  });
});
