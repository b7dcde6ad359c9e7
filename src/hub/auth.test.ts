/**
 * Tests of connection-token verification (reliability classes 15 and A2): each rejection has its own test,
 * keys come only from the configuration, and the only request ever made goes to the configured JWKS URL on
 * 127.0.0.1, never to a URL named by a token.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { AuthError, createTokenVerifier, type AuthErrorCode, type AuthRejectReason, type TokenVerifier } from './auth.js';

const NOW = 1_700_000_000_000;
const NOW_S = NOW / 1000;
const now = (): number => NOW;
const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const SECRET_BYTES = new TextEncoder().encode(SECRET);
const SAFE_MESSAGES = new Set(['invalid token', 'token expired', 'token not yet valid', 'malformed token', 'token verification unavailable']);

type KeyPair = { publicKey: jose.CryptoKey; privateKey: jose.CryptoKey; pem: string };
let rsa: KeyPair;
let rsaOther: KeyPair;
let ec: KeyPair;

async function keyPair(alg: 'RS256' | 'ES256'): Promise<KeyPair> {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { publicKey, privateKey, pem: await jose.exportSPKI(publicKey) };
}

before(async () => {
  [rsa, rsaOther, ec] = await Promise.all([keyPair('RS256'), keyPair('RS256'), keyPair('ES256')]);
});

/** Signs `claims` (a valid user token by default) with `alg` and `key`. */
async function mint(
  claims: jose.JWTPayload = {},
  options: { alg?: string; key?: jose.CryptoKey | Uint8Array; header?: Partial<jose.JWTHeaderParameters> } = {},
): Promise<string> {
  const { alg = 'HS256', key = SECRET_BYTES, header = {} } = options;
  return new jose.SignJWT({ sub: 'alice', iat: NOW_S, exp: NOW_S + 60, ...claims }).setProtectedHeader({ ...header, alg }).sign(key);
}

async function rejects(verifier: TokenVerifier, token: unknown, code: AuthErrorCode, reason: AuthRejectReason): Promise<void> {
  await assert.rejects(verifier.verify(token as string), (error: unknown) => {
    assert.ok(error instanceof AuthError, `an AuthError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.reason, reason);
    assert.ok(SAFE_MESSAGES.has(error.message), `a fixed message, got ${error.message}`);
    return true;
  });
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

// ----------------------------------------------------------------------------------------- local servers

interface Site {
  readonly url: string;
  readonly hits: string[];
  respond: (req: IncomingMessage, res: ServerResponse) => void;
}

const servers: Server[] = [];

afterEach(() => {
  for (const server of servers) server.closeAllConnections();
});

after(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** An HTTP server on 127.0.0.1 that records every request path. */
async function site(respond: Site['respond']): Promise<Site> {
  const hits: string[] = [];
  const state: Site = { url: '', hits, respond };
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    state.respond(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

async function jwk(key: jose.CryptoKey, kid: string, alg: string): Promise<jose.JWK> {
  return { ...(await jose.exportJWK(key)), kid, alg, use: 'sig' };
}

async function jwksSite(keys: jose.JWK[]): Promise<Site> {
  return site((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys }));
  });
}

// ------------------------------------------------------------------------------------------------- tests

describe('createTokenVerifier with an HMAC secret', () => {
  const verifier = (): TokenVerifier => createTokenVerifier({ hmacSecret: SECRET, now });

  it('accepts a valid HS256 token and returns the user, expiry, capabilities and info', async () => {
    const token = await mint({ channels: { 'chat:*': ['subscribe', 'publish'] }, info: { name: 'Alice' } });
    const verified = await verifier().verify(token);
    assert.equal(verified.userId, 'alice');
    assert.equal(verified.expiresAt, (NOW_S + 60) * 1000);
    assert.deepEqual(verified.info, { name: 'Alice' });
    assert.equal(verified.capabilities.allows('chat:room-1', 'publish'), true);
    assert.equal(verified.capabilities.allows('news', 'subscribe'), false);
  });

  it('accepts a token without exp unless requireExpiry is set', async () => {
    const token = await mint({ exp: undefined });
    const verified = await verifier().verify(token);
    assert.equal(verified.expiresAt, undefined);
    assert.equal(verified.capabilities.isEmpty, true);
    await rejects(createTokenVerifier({ hmacSecret: SECRET, requireExpiry: true, now }), token, 'token_invalid', 'missing_exp');
  });

  it('rejects alg: none (an unsigned token)', async () => {
    const unsigned = new jose.UnsecuredJWT({ sub: 'alice', exp: NOW_S + 60 }).encode();
    await rejects(verifier(), unsigned, 'token_invalid', 'alg_not_allowed');
    const payload = b64({ sub: 'alice', exp: NOW_S + 60 });
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await rejects(verifier(), `${b64({ alg, typ: 'JWT' })}.${payload}.`, 'token_invalid', 'alg_not_allowed');
    }
    // none with a signature part copied from a real token
    const real = (await mint()).split('.')[2];
    await rejects(verifier(), `${b64({ alg: 'none' })}.${payload}.${real}`, 'token_invalid', 'alg_not_allowed');
  });

  it('rejects a token signed with another secret', async () => {
    const token = await mint({}, { key: new TextEncoder().encode('another-secret-that-is-long-enough!!') });
    await rejects(verifier(), token, 'token_invalid', 'bad_signature');
  });

  it('rejects a token whose payload was changed after signing', async () => {
    const [header, , signature] = (await mint()).split('.');
    await rejects(verifier(), `${header}.${b64({ sub: 'admin', exp: NOW_S + 60 })}.${signature}`, 'token_invalid', 'bad_signature');
  });

  it('rejects an expired token, beyond the 5 s clock tolerance', async () => {
    await rejects(verifier(), await mint({ exp: NOW_S - 6 }), 'token_expired', 'expired');
    await verifier().verify(await mint({ exp: NOW_S - 4 }));
    await rejects(createTokenVerifier({ hmacSecret: SECRET, clockToleranceSec: 0, now }), await mint({ exp: NOW_S }), 'token_expired', 'expired');
  });

  it('rejects a token whose nbf is in the future', async () => {
    await rejects(verifier(), await mint({ nbf: NOW_S + 60 }), 'token_not_yet_valid', 'not_yet_valid');
    await verifier().verify(await mint({ nbf: NOW_S + 4 }));
  });

  it('follows the injected clock', async () => {
    const token = await mint({ exp: NOW_S + 60 });
    await rejects(createTokenVerifier({ hmacSecret: SECRET, now: () => NOW + 120_000 }), token, 'token_expired', 'expired');
  });

  it('rejects a token without sub, or with an empty or non-string sub', async () => {
    await rejects(verifier(), await mint({ sub: undefined }), 'token_invalid', 'missing_sub');
    await rejects(verifier(), await mint({ sub: '' }), 'token_invalid', 'missing_sub');
    await rejects(verifier(), await mint({ sub: 42 as unknown as string }), 'token_invalid', 'missing_sub');
  });

  it('rejects a wrong or missing issuer when one is configured', async () => {
    const strict = createTokenVerifier({ hmacSecret: SECRET, issuer: 'https://app.example', now });
    await strict.verify(await mint({ iss: 'https://app.example' }));
    await rejects(strict, await mint({ iss: 'https://evil.example' }), 'token_invalid', 'bad_issuer');
    await rejects(strict, await mint(), 'token_invalid', 'bad_issuer');
  });

  it('rejects a wrong or missing audience when one is configured', async () => {
    const strict = createTokenVerifier({ hmacSecret: SECRET, audience: ['volley', 'volley-eu'], now });
    await strict.verify(await mint({ aud: 'volley-eu' }));
    await strict.verify(await mint({ aud: ['other', 'volley'] }));
    await rejects(strict, await mint({ aud: 'other' }), 'token_invalid', 'bad_audience');
    await rejects(strict, await mint(), 'token_invalid', 'bad_audience');
  });

  it('rejects a channels claim of the wrong shape', async () => {
    await rejects(verifier(), await mint({ channels: ['chat:*'] }), 'token_invalid', 'bad_capabilities');
    await rejects(verifier(), await mint({ channels: { 'chat*': ['subscribe'] } }), 'token_invalid', 'bad_capabilities');
    await rejects(verifier(), await mint({ channels: { news: ['admin'] } }), 'token_invalid', 'bad_capabilities');
  });

  it('rejects garbage strings as malformed', async () => {
    const garbage = ['', 'abc', 'a.b', 'a.b.c', 'a.b.c.d', '...', 'Bearer x.y.z', ' x.y.z', `${b64({ alg: 'HS256' })}.!!!.x`, 'é.é.é', '\u0000.\u0000.\u0000'];
    for (const token of garbage) {
      await assert.rejects(verifier().verify(token), (error: unknown) => error instanceof AuthError && error.code === 'token_malformed', JSON.stringify(token));
    }
    await rejects(verifier(), `${b64(['not', 'an', 'object'])}.${b64({ sub: 'alice' })}.x`, 'token_malformed', 'malformed');
    await rejects(verifier(), `${b64({ alg: 'HS256' })}.${Buffer.from('not json').toString('base64url')}.x`, 'token_malformed', 'malformed');
  });

  it('rejects values that are not strings without throwing anything but AuthError', async () => {
    for (const value of [undefined, null, 42, {}, ['a.b.c'], Buffer.from('a.b.c')]) {
      await rejects(verifier(), value, 'token_malformed', 'not_a_string');
    }
  });

  it('rejects a 1 MiB token before parsing it', async () => {
    const huge = `${b64({ alg: 'HS256' })}.${'A'.repeat(1024 * 1024)}.x`;
    const start = performance.now();
    await rejects(verifier(), huge, 'token_malformed', 'too_long');
    assert.ok(performance.now() - start < 50, 'rejected at once');
  });

  it('rejects a validly signed token longer than maxTokenLength (8 KiB by default)', async () => {
    const long = await mint({ info: 'x'.repeat(8 * 1024) });
    await rejects(verifier(), long, 'token_malformed', 'too_long');
    const verified = await createTokenVerifier({ hmacSecret: SECRET, maxTokenLength: 16 * 1024, now }).verify(long);
    assert.equal(verified.userId, 'alice');
  });

  it('uses HS256 only', () => {
    assert.deepEqual(verifier().algorithms, ['HS256']);
  });
});

describe('createTokenVerifier with a PEM public key', () => {
  it('accepts RS256 tokens with an RSA key, and nothing else', async () => {
    const verifier = createTokenVerifier({ publicKey: rsa.pem, now });
    assert.deepEqual(verifier.algorithms, ['RS256']);
    const verified = await verifier.verify(await mint({}, { alg: 'RS256', key: rsa.privateKey }));
    assert.equal(verified.userId, 'alice');
    await rejects(verifier, await mint({}, { alg: 'ES256', key: ec.privateKey }), 'token_invalid', 'alg_not_allowed');
    await rejects(verifier, await mint({}, { alg: 'PS256', key: (await jose.generateKeyPair('PS256')).privateKey }), 'token_invalid', 'alg_not_allowed');
  });

  it('accepts ES256 tokens with an EC P-256 key', async () => {
    const verifier = createTokenVerifier({ publicKey: ec.pem, now });
    assert.deepEqual(verifier.algorithms, ['ES256']);
    assert.equal((await verifier.verify(await mint({}, { alg: 'ES256', key: ec.privateKey }))).userId, 'alice');
    await rejects(verifier, await mint({}, { alg: 'RS256', key: rsa.privateKey }), 'token_invalid', 'alg_not_allowed');
  });

  it('accepts a PKCS#1 RSA key and an X.509-style SPKI key alike', async () => {
    const pkcs1 = (await import('node:crypto')).createPublicKey(rsa.pem).export({ type: 'pkcs1', format: 'pem' }) as string;
    const verifier = createTokenVerifier({ publicKey: pkcs1, now });
    assert.equal((await verifier.verify(await mint({}, { alg: 'RS256', key: rsa.privateKey }))).userId, 'alice');
  });

  it('rejects a token signed by another RSA key', async () => {
    const verifier = createTokenVerifier({ publicKey: rsa.pem, now });
    await rejects(verifier, await mint({}, { alg: 'RS256', key: rsaOther.privateKey }), 'token_invalid', 'bad_signature');
  });

  it('rejects HS256 signed with the public key PEM as the secret (algorithm confusion)', async () => {
    for (const pem of [rsa.pem, ec.pem]) {
      const forged = await mint({}, { alg: 'HS256', key: new TextEncoder().encode(pem) });
      await rejects(createTokenVerifier({ publicKey: pem, now }), forged, 'token_invalid', 'alg_not_allowed');
      // With an HMAC secret configured too, HS256 is allowed, but only against that secret.
      await rejects(createTokenVerifier({ publicKey: pem, hmacSecret: SECRET, now }), forged, 'token_invalid', 'bad_signature');
    }
  });

  it('refuses to allow HS256 without a secret to back it', () => {
    assert.throws(() => createTokenVerifier({ publicKey: rsa.pem, algorithms: ['HS256'] }), TypeError);
    assert.throws(() => createTokenVerifier({ publicKey: rsa.pem, algorithms: ['ES256'] }), TypeError);
  });

  it('ignores a key embedded in the token header (jwk)', async () => {
    const attacker = await keyPair('RS256');
    const header = { jwk: await jose.exportJWK(attacker.publicKey) };
    const forged = await mint({}, { alg: 'RS256', key: attacker.privateKey, header });
    await rejects(createTokenVerifier({ publicKey: rsa.pem, now }), forged, 'token_invalid', 'bad_signature');
  });

  it('refuses private keys, short RSA keys and unsupported key types at construction', async () => {
    const pkcs8 = await jose.exportPKCS8(rsa.privateKey);
    assert.throws(() => createTokenVerifier({ publicKey: pkcs8 }), /not a private key/);
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => createTokenVerifier({ publicKey: short }), /2048/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => createTokenVerifier({ publicKey: p384 }), TypeError);
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => createTokenVerifier({ publicKey: ed }), TypeError);
    assert.throws(() => createTokenVerifier({ publicKey: 'not a pem' }), TypeError);
  });
});

describe('createTokenVerifier options', () => {
  it('refuses bad configurations synchronously', () => {
    assert.throws(() => createTokenVerifier({}), /one of hmacSecret/);
    assert.throws(() => createTokenVerifier({ hmacSecret: 'short' }), /32 bytes/);
    assert.throws(() => createTokenVerifier({ publicKey: 'x', jwksUrl: 'https://example.com/jwks' }), /exclusive/);
    assert.throws(() => createTokenVerifier({ hmacSecret: SECRET, algorithms: [] }), TypeError);
    assert.throws(() => createTokenVerifier({ hmacSecret: SECRET, algorithms: ['none' as never] }), TypeError);
    assert.throws(() => createTokenVerifier({ hmacSecret: SECRET, clockToleranceSec: -1 }), TypeError);
    assert.throws(() => createTokenVerifier({ hmacSecret: SECRET, maxTokenLength: 0 }), TypeError);
    assert.throws(() => createTokenVerifier({ hmacSecret: SECRET, issuer: '' }), TypeError);
    assert.throws(() => createTokenVerifier({ jwksUrl: 'http://keys.example.com/jwks' }), /https/);
    assert.throws(() => createTokenVerifier({ jwksUrl: 'ftp://127.0.0.1/jwks' }), TypeError);
    assert.throws(() => createTokenVerifier({ jwksUrl: 'https://user:pw@keys.example.com/jwks' }), TypeError);
    assert.doesNotThrow(() => createTokenVerifier({ jwksUrl: 'http://keys.internal/jwks', allowInsecureJwksUrl: true }));
  });

  it('derives the allowed algorithms from the configured keys', () => {
    assert.deepEqual(createTokenVerifier({ jwksUrl: 'https://keys.example.com/jwks' }).algorithms, ['RS256', 'ES256']);
    assert.deepEqual(createTokenVerifier({ jwksUrl: 'https://keys.example.com/jwks', hmacSecret: SECRET }).algorithms, ['HS256', 'RS256', 'ES256']);
    assert.deepEqual(createTokenVerifier({ jwksUrl: 'https://keys.example.com/jwks', algorithms: ['ES256'] }).algorithms, ['ES256']);
  });
});

describe('createTokenVerifier with a JWKS URL', () => {
  it('accepts RS256 and ES256 tokens whose kid is in the set', async () => {
    const jwks = await jwksSite([await jwk(rsa.publicKey, 'r1', 'RS256'), await jwk(ec.publicKey, 'e1', 'ES256')]);
    const verifier = createTokenVerifier({ jwksUrl: `${jwks.url}/jwks`, now });
    assert.equal((await verifier.verify(await mint({}, { alg: 'RS256', key: rsa.privateKey, header: { kid: 'r1' } }))).userId, 'alice');
    assert.equal((await verifier.verify(await mint({}, { alg: 'ES256', key: ec.privateKey, header: { kid: 'e1' } }))).userId, 'alice');
    assert.deepEqual(jwks.hits, ['/jwks'], 'one fetch, then keys come from the cache');
  });

  it('rejects a kid that is not in the set, refetching at most once per cooldown', async () => {
    const jwks = await jwksSite([await jwk(rsa.publicKey, 'r1', 'RS256')]);
    const verifier = createTokenVerifier({ jwksUrl: `${jwks.url}/jwks`, now });
    await verifier.verify(await mint({}, { alg: 'RS256', key: rsa.privateKey, header: { kid: 'r1' } }));
    for (let i = 0; i < 5; i++) {
      const token = await mint({}, { alg: 'RS256', key: rsa.privateKey, header: { kid: `made-up-${i}` } });
      await rejects(verifier, token, 'token_invalid', 'unknown_kid');
    }
    assert.deepEqual(jwks.hits, ['/jwks']);
  });

  it('accepts a token without kid only when one key of its algorithm is in the set', async () => {
    const single = await jwksSite([await jwk(rsa.publicKey, 'r1', 'RS256'), await jwk(ec.publicKey, 'e1', 'ES256')]);
    const token = await mint({}, { alg: 'RS256', key: rsa.privateKey });
    assert.equal((await createTokenVerifier({ jwksUrl: `${single.url}/jwks`, now }).verify(token)).userId, 'alice');
    const two = await jwksSite([await jwk(rsaOther.publicKey, 'r0', 'RS256'), await jwk(rsa.publicKey, 'r1', 'RS256')]);
    await rejects(createTokenVerifier({ jwksUrl: `${two.url}/jwks`, now }), token, 'token_invalid', 'ambiguous_kid');
  });

  it('rejects a token signed by another key under a known kid', async () => {
    const jwks = await jwksSite([await jwk(rsa.publicKey, 'r1', 'RS256')]);
    const verifier = createTokenVerifier({ jwksUrl: `${jwks.url}/jwks`, now });
    await rejects(verifier, await mint({}, { alg: 'RS256', key: rsaOther.privateKey, header: { kid: 'r1' } }), 'token_invalid', 'bad_signature');
  });

  it('never fetches a URL named by the token (jku, x5u, iss): the canary gets zero requests', async () => {
    const canary = await site((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"keys":[]}');
    });
    const jwks = await jwksSite([await jwk(rsa.publicKey, 'r1', 'RS256')]);
    const verifier = createTokenVerifier({ jwksUrl: `${jwks.url}/jwks`, jwksCooldownMs: 0, now });
    const attacker = await keyPair('RS256');
    const header = { jku: `${canary.url}/jwks`, x5u: `${canary.url}/cert.pem`, kid: 'attacker' };
    const claims = { iss: `${canary.url}/issuer` };
    await rejects(verifier, await mint(claims, { alg: 'RS256', key: attacker.privateKey, header }), 'token_invalid', 'unknown_kid');
    await rejects(verifier, await mint(claims, { alg: 'RS256', key: attacker.privateKey, header: { ...header, kid: 'r1' } }), 'token_invalid', 'bad_signature');
    await rejects(verifier, await mint(claims, { alg: 'RS256', key: attacker.privateKey, header: { ...header, kid: `${canary.url}/kid` } }), 'token_invalid', 'unknown_kid');
    assert.deepEqual(canary.hits, []);
    assert.ok(jwks.hits.every((path) => path === '/jwks'), 'only the configured URL was fetched');
  });

  it('keeps keys apart per JWKS URL when two tenants use the same kid', async () => {
    const tenantA = await jwksSite([await jwk(rsa.publicKey, 'shared', 'RS256')]);
    const tenantB = await jwksSite([await jwk(rsaOther.publicKey, 'shared', 'RS256')]);
    const verifyA = createTokenVerifier({ jwksUrl: `${tenantA.url}/jwks`, now });
    const verifyB = createTokenVerifier({ jwksUrl: `${tenantB.url}/jwks`, now });
    const tokenA = await mint({}, { alg: 'RS256', key: rsa.privateKey, header: { kid: 'shared' } });
    assert.equal((await verifyA.verify(tokenA)).userId, 'alice');
    await rejects(verifyB, tokenA, 'token_invalid', 'bad_signature');
    const tokenB = await mint({ sub: 'bob' }, { alg: 'RS256', key: rsaOther.privateKey, header: { kid: 'shared' } });
    assert.equal((await verifyB.verify(tokenB)).userId, 'bob');
    await rejects(verifyA, tokenB, 'token_invalid', 'bad_signature');
  });

  it('picks up a rotated key after the cooldown', async () => {
    const keys = [await jwk(rsa.publicKey, 'r1', 'RS256')];
    const jwks = await jwksSite(keys);
    const verifier = createTokenVerifier({ jwksUrl: `${jwks.url}/jwks`, jwksCooldownMs: 0, now });
    await verifier.verify(await mint({}, { alg: 'RS256', key: rsa.privateKey, header: { kid: 'r1' } }));
    keys.push(await jwk(rsaOther.publicKey, 'r2', 'RS256'));
    assert.equal((await verifier.verify(await mint({}, { alg: 'RS256', key: rsaOther.privateKey, header: { kid: 'r2' } }))).userId, 'alice');
    assert.deepEqual(jwks.hits, ['/jwks', '/jwks']);
  });

  it('rejects HS256 and algorithms outside the allowlist without fetching anything', async () => {
    const jwks = await jwksSite([await jwk(rsa.publicKey, 'r1', 'RS256')]);
    const esOnly = createTokenVerifier({ jwksUrl: `${jwks.url}/jwks`, algorithms: ['ES256'], now });
    await rejects(esOnly, await mint({}, { alg: 'RS256', key: rsa.privateKey, header: { kid: 'r1' } }), 'token_invalid', 'alg_not_allowed');
    const forged = await mint({}, { alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(await jwk(rsa.publicKey, 'r1', 'RS256'))), header: { kid: 'r1' } });
    await rejects(createTokenVerifier({ jwksUrl: `${jwks.url}/jwks`, now }), forged, 'token_invalid', 'alg_not_allowed');
    await rejects(createTokenVerifier({ jwksUrl: `${jwks.url}/jwks`, now }), 'x'.repeat(9000), 'token_malformed', 'too_long');
    assert.deepEqual(jwks.hits, []);
  });

  it('reports a JWKS endpoint that fails as auth_unavailable, not as a bad token', async () => {
    const failing = await site((_req, res) => {
      res.writeHead(500);
      res.end();
    });
    const token = await mint({}, { alg: 'RS256', key: rsa.privateKey, header: { kid: 'r1' } });
    await rejects(createTokenVerifier({ jwksUrl: `${failing.url}/jwks`, now }), token, 'auth_unavailable', 'jwks_unavailable');

    const notJson = await site((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"keys": [');
    });
    await rejects(createTokenVerifier({ jwksUrl: `${notJson.url}/jwks`, now }), token, 'auth_unavailable', 'jwks_unavailable');

    const redirecting = await site((_req, res) => {
      res.writeHead(302, { location: `${notJson.url}/jwks` });
      res.end();
    });
    const notJsonHits = notJson.hits.length;
    await rejects(createTokenVerifier({ jwksUrl: `${redirecting.url}/jwks`, now }), token, 'auth_unavailable', 'jwks_unavailable');
    assert.equal(notJson.hits.length, notJsonHits, 'a redirect is not followed');
  });

  it('gives up on a JWKS endpoint that does not answer within jwksTimeoutMs', async () => {
    const silent = await site(() => {
      /* never answers */
    });
    const token = await mint({}, { alg: 'RS256', key: rsa.privateKey, header: { kid: 'r1' } });
    const start = performance.now();
    await rejects(createTokenVerifier({ jwksUrl: `${silent.url}/jwks`, jwksTimeoutMs: 150, now }), token, 'auth_unavailable', 'jwks_unavailable');
    assert.ok(performance.now() - start < 2000);
  });

  it('stops reading a JWKS response larger than jwksMaxBytes', async () => {
    const big = await site((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [], padding: 'x'.repeat(64 * 1024) }));
    });
    const token = await mint({}, { alg: 'RS256', key: rsa.privateKey, header: { kid: 'r1' } });
    await rejects(createTokenVerifier({ jwksUrl: `${big.url}/jwks`, jwksMaxBytes: 16 * 1024, now }), token, 'auth_unavailable', 'jwks_unavailable');
  });
});
