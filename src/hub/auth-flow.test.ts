/**
 * JWT auth end to end (reliability A2): tokens minted with `jose` the way an application backend would, sent in
 * `connect` over a real WebSocket. Every rejection closes with its code; capabilities and user-limited channels
 * decide subscribe and publish; `exp` is enforced for the life of the connection, and `refresh` extends it.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as jose from 'jose';

import { createTokenVerifier } from './auth.js';
import { errorCode, HubClient, type HubMessage } from './testing/hub-client.js';
import { hubScope } from './testing/hub-scope.js';
import type { StartedHub, StartHubOptions } from './testing/start-hub.js';
import { TEST_SECRET, mintToken, unsignedToken } from './testing/tokens.js';

const scope = hubScope({ rateLimits: { connection: false } });
const T = { timeout: 10_000 };
const hub = (options: StartHubOptions): Promise<StartedHub> => scope.hub(options);

const main = await hub({
  verifier: createTokenVerifier({ hmacSecret: TEST_SECRET }),
  namespaces: {
    default: { subscribe: 'authenticated' },
    namespaces: {
      private: { subscribe: 'capability' },
      members: { subscribe: 'authenticated' },
      chat: { subscribe: 'capability', publish: 'capability' },
    },
  },
});

function open(started: StartedHub = main): Promise<HubClient> {
  return scope.open(started);
}

/** A client connected with a token for `claims`. */
async function as(claims: Record<string, unknown>): Promise<HubClient> {
  const client = await open();
  await client.connect(await mintToken(claims, { expiresInSec: 300 }));
  return client;
}

/** Sends connect with `token` and returns the disconnect push and close code that follow. */
async function refused(token: string | undefined, started: StartedHub = main): Promise<{ push: HubMessage; code: number }> {
  const client = await open(started);
  client.send('connect', token === undefined ? {} : { token });
  const push = await client.nextPush((p) => p['type'] === 'disconnect');
  const { code } = await client.waitClosed();
  return { push, code };
}

describe('connect tokens', () => {
  test('a valid HS256 token connects with the user id from sub and its exp as expiresAt', T, async () => {
    const token = await mintToken({ sub: 'alice' }, { expiresInSec: 600 });
    const { exp } = jose.decodeJwt(token);
    const client = await open();
    const result = await client.connect(token);
    assert.equal(result.userId, 'alice');
    assert.equal(result.expiresAt, exp! * 1000);
    assert.deepEqual(await client.ok('ping'), {});
  });

  test('an expired token is refused with disconnect 4002, which invites a reconnect with a new token', T, async () => {
    const { push, code } = await refused(await mintToken({ sub: 'alice' }, { expiresInSec: -60 }));
    assert.equal(push['code'], 4002);
    assert.equal(push['reconnect'], true);
    assert.equal(code, 4002);
  });

  test('a token with alg none is refused with 4500', T, async () => {
    const { push, code } = await refused(unsignedToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 }));
    assert.equal(push['code'], 4500);
    assert.equal(push['reconnect'], false);
    assert.equal(code, 4500);
  });

  test('a token signed with another secret is refused with 4500', T, async () => {
    const token = await mintToken({ sub: 'alice' }, { expiresInSec: 600, secret: 'another-secret-of-at-least-32-bytes!!' });
    assert.equal((await refused(token)).code, 4500);
  });

  test('a token whose signature was tampered with (claims changed after signing) is refused with 4500', T, async () => {
    const [header, , signature] = (await mintToken({ sub: 'alice' }, { expiresInSec: 600 })).split('.');
    const forged = `${header}.${jose.base64url.encode(JSON.stringify({ sub: 'admin', exp: Math.floor(Date.now() / 1000) + 600 }))}.${signature}`;
    assert.equal((await refused(forged)).code, 4500);
  });

  test('a token with nbf in the future is refused with 4500', T, async () => {
    assert.equal((await refused(await mintToken({ sub: 'alice' }, { expiresInSec: 600, notBeforeInSec: 120 }))).code, 4500);
  });

  test('a token signed with RS256 on a hub that verifies HS256 only is refused with 4500', T, async () => {
    const { privateKey } = await jose.generateKeyPair('RS256');
    const token = await new jose.SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('10m').sign(privateKey);
    assert.equal((await refused(token)).code, 4500);
  });

  test('an HS256 token signed with the hub’s RSA public key (algorithm confusion) is refused with 4500', T, async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
    const pem = await jose.exportSPKI(publicKey);
    const rsaHub = await hub({ verifier: createTokenVerifier({ publicKey: pem }) });
    const genuine = await new jose.SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('10m').sign(privateKey);
    const client = await open(rsaHub);
    assert.equal((await client.connect(genuine)).userId, 'alice');
    const confused = await new jose.SignJWT({ sub: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(pem));
    assert.equal((await refused(confused, rsaHub)).code, 4500);
  });

  test('a token without sub, with a malformed channels claim, or that is not a JWT is refused with 4500', T, async () => {
    assert.equal((await refused(await mintToken({ name: 'no subject' }, { expiresInSec: 600 }))).code, 4500);
    assert.equal((await refused(await mintToken({ sub: 'alice', channels: { 'chat*': ['subscribe'] } }, { expiresInSec: 600 }))).code, 4500);
    assert.equal((await refused(await mintToken({ sub: 'alice', channels: ['chat:*'] }, { expiresInSec: 600 }))).code, 4500);
    assert.equal((await refused('not-a-jwt')).code, 4500);
  });

  test('a missing token is refused with 4500 where anonymous access is off', T, async () => {
    const { push, code } = await refused(undefined);
    assert.equal(push['code'], 4500);
    assert.equal(code, 4500);
  });

  test('a token sent to a hub that has no verifier is refused with 4500 even though anonymous access is on', T, async () => {
    const open = await hub({ allowAnonymous: true });
    assert.equal((await refused(await mintToken({ sub: 'alice' }, { expiresInSec: 600 }), open)).code, 4500);
  });

  test('issuer and audience are enforced when configured', T, async () => {
    const strict = await hub({ verifier: createTokenVerifier({ hmacSecret: TEST_SECRET, issuer: 'https://app.example', audience: 'volley' }) });
    const good = await mintToken({ sub: 'alice', iss: 'https://app.example', aud: 'volley' }, { expiresInSec: 600 });
    const client = await open(strict);
    assert.equal((await client.connect(good)).userId, 'alice');
    assert.equal((await refused(await mintToken({ sub: 'alice', iss: 'https://evil.example', aud: 'volley' }, { expiresInSec: 600 }), strict)).code, 4500);
    assert.equal((await refused(await mintToken({ sub: 'alice', iss: 'https://app.example', aud: 'other' }, { expiresInSec: 600 }), strict)).code, 4500);
    assert.equal((await refused(await mintToken({ sub: 'alice' }, { expiresInSec: 600 }), strict)).code, 4500);
  });
});

describe('capabilities', () => {
  test('a token without a channels claim cannot subscribe in a capability namespace but can where the namespace says authenticated', T, async () => {
    const client = await as({ sub: 'alice' });
    assert.equal(await errorCode(client.ok('subscribe', { channel: 'private:x' })), 'permission_denied');
    assert.equal((await client.ok('subscribe', { channel: 'members:x' })).recovered, false);
    assert.equal((await client.ok('subscribe', { channel: 'lobby' })).recovered, false);
  });

  test('a channels claim of chat:* with subscribe allows subscribing to chat:x but not publishing there', T, async () => {
    const reader = await as({ sub: 'alice', channels: { 'chat:*': ['subscribe'] } });
    await reader.ok('subscribe', { channel: 'chat:x' });
    assert.equal(await errorCode(reader.ok('publish', { channel: 'chat:x', data: 'hi' })), 'permission_denied');
    // `chat:*` names the namespace: it grants nothing in private:.
    assert.equal(await errorCode(reader.ok('subscribe', { channel: 'private:x' })), 'permission_denied');

    const writer = await as({ sub: 'bob', channels: { 'chat:*': ['subscribe', 'publish'] } });
    const published = await writer.ok('publish', { channel: 'chat:x', data: 'hi' });
    assert.equal(published.offset, 1);
    const push = await reader.nextPush((p) => p['type'] === 'publication');
    assert.equal(push['data'], 'hi');
    assert.equal(push['info'].userId, 'bob');
  });

  test('an exact channel grant allows that channel only', T, async () => {
    const client = await as({ sub: 'alice', channels: { 'private:one': ['subscribe'] } });
    await client.ok('subscribe', { channel: 'private:one' });
    assert.equal(await errorCode(client.ok('subscribe', { channel: 'private:two' })), 'permission_denied');
  });

  test('a user-limited channel notifications#alice is for alice only, whatever capabilities others hold', T, async () => {
    const alice = await as({ sub: 'alice' });
    await alice.ok('subscribe', { channel: 'notifications#alice' });
    const bob = await as({ sub: 'bob', channels: { '*': ['subscribe'] } });
    assert.equal(await errorCode(bob.ok('subscribe', { channel: 'notifications#alice' })), 'permission_denied');
    assert.equal(await errorCode(bob.ok('subscribe', { channel: 'notifications#alice,' })), 'permission_denied');
    await bob.ok('subscribe', { channel: 'dm#alice,bob' });
    await alice.ok('subscribe', { channel: 'dm#alice,bob' });
    const carol = await as({ sub: 'carol' });
    assert.equal(await errorCode(carol.ok('subscribe', { channel: 'dm#alice,bob' })), 'permission_denied');
  });
});

describe('token expiry during the connection', { concurrency: true }, () => {
  test('a refresh before expiry keeps the connection open past the first token’s exp', T, async () => {
    const client = await open();
    const first = await client.connect(await mintToken({ sub: 'alice' }, { expiresAtMs: Date.now() + 2000 }));
    const refreshed = await client.ok('refresh', { token: await mintToken({ sub: 'alice' }, { expiresInSec: 600 }) });
    assert.ok(refreshed.expiresAt > first.expiresAt);
    const wait = first.expiresAt - Date.now() + 1500;
    await new Promise((resolve) => setTimeout(resolve, wait));
    assert.equal(client.closeCode, null);
    assert.deepEqual(await client.ok('ping'), {});
  });

  test('without a refresh the connection is closed with 4002 within about a second after exp', T, async () => {
    const client = await open();
    const { expiresAt } = await client.connect(await mintToken({ sub: 'alice' }, { expiresAtMs: Date.now() + 2000 }));
    await client.ok('subscribe', { channel: 'lobby' });
    const push = await client.nextPush((p) => p['type'] === 'disconnect', 5000);
    const closedAt = Date.now();
    assert.deepEqual(push, { type: 'disconnect', code: 4002, reason: 'token expired', reconnect: true });
    assert.equal((await client.waitClosed()).code, 4002);
    assert.ok(closedAt >= expiresAt, `not before exp (${closedAt - expiresAt} ms)`);
    // The hub sweeps once a second; the margin is for a loaded machine.
    assert.ok(closedAt - expiresAt <= 1800, `within about a second after exp (${closedAt - expiresAt} ms)`);
  });

  test('a refresh with an expired token closes with 4002 and one with a bad token closes with 4500', T, async () => {
    const expired = await open();
    await expired.connect(await mintToken({ sub: 'alice' }, { expiresInSec: 600 }));
    expired.send('refresh', { token: await mintToken({ sub: 'alice' }, { expiresInSec: -60 }) });
    assert.equal((await expired.waitClosed()).code, 4002);

    const bad = await open();
    await bad.connect(await mintToken({ sub: 'alice' }, { expiresInSec: 600 }));
    bad.send('refresh', { token: unsignedToken({ sub: 'alice' }) });
    assert.equal((await bad.waitClosed()).code, 4500);
  });
});
