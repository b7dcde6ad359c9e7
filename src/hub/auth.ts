/**
 * Connection tokens: JWTs verified with `jose` against keys the operator configured — an HMAC secret (HS256),
 * a PEM public key (RS256 or ES256, chosen by the key's type) and/or a JWKS URL. The accepted algorithms
 * come from the configuration, never from the token, so `alg: none` and HS256-signed-with-the-public-key
 * (algorithm confusion) fail before any key is used. No URL from a token (`jku`, `x5u`, `iss`) is ever
 * fetched; the only outbound request is to the configured JWKS URL, keys cached per URL and `kid`.
 *
 * Claims: `sub` (user id, required), `exp`, `nbf`, `iss`, `aud`, `channels` (capabilities, see
 * capabilities.ts) and `info` (any JSON, shown to others in presence and publications).
 *
 * @module
 */

import { createPublicKey, type KeyObject } from 'node:crypto';
import * as jose from 'jose';
import { AuthError, parseCapabilities, type AuthErrorCode, type AuthRejectReason, type Capabilities } from './capabilities.js';
import { readLimitedBody } from './hooks.js';

export { AuthError, type AuthErrorCode, type AuthRejectReason } from './capabilities.js';

/** Algorithms Volley verifies. */
export type TokenAlgorithm = 'HS256' | 'RS256' | 'ES256';

/** Options of {@link createTokenVerifier}. At least one of `hmacSecret`, `publicKey`, `jwksUrl` is required. */
export interface TokenVerifierOptions {
  /** HS256 secret, at least 32 bytes of UTF-8 (RFC 7518 §3.2: a key as long as the hash output). */
  readonly hmacSecret?: string;
  /**
   * A PEM public key (SPKI `BEGIN PUBLIC KEY`, PKCS#1 `BEGIN RSA PUBLIC KEY`, or an X.509 certificate): RSA
   * (≥ 2048 bits) allows RS256, EC P-256 allows ES256. Private keys are refused. Exclusive with `jwksUrl`.
   */
  readonly publicKey?: string;
  /**
   * A JSON Web Key Set URL (https; http only for loopback hosts unless {@link allowInsecureJwksUrl}).
   * Allows RS256 and ES256. Tokens should carry `kid`; a token without `kid` matches only when the set has a
   * single key for its algorithm.
   */
  readonly jwksUrl?: string;
  /** Permit an `http:` JWKS URL on a non-loopback host (keys fetched in clear can be forged). @default false */
  readonly allowInsecureJwksUrl?: boolean;
  /** JWKS fetch timeout, ms. @default 5000 */
  readonly jwksTimeoutMs?: number;
  /**
   * After a fetch, an unknown `kid` does not refetch the set for this long, so a flood of made-up `kid`s
   * costs one request per cooldown. @default 30000
   */
  readonly jwksCooldownMs?: number;
  /** Refetch the set after this long even if every `kid` is known (key rotation). @default 600000 */
  readonly jwksMaxAgeMs?: number;
  /** Largest JWKS response read, bytes. @default 524288 */
  readonly jwksMaxBytes?: number;
  /** Extra headers for the JWKS request. */
  readonly jwksHeaders?: Readonly<Record<string, string>>;
  /**
   * Allowlist of algorithms, each backed by a configured key. @default every algorithm the configured keys
   * support: HS256 for `hmacSecret`, RS256 or ES256 for `publicKey`, RS256 and ES256 for `jwksUrl`.
   */
  readonly algorithms?: readonly TokenAlgorithm[];
  /** Required `iss` (one of). */
  readonly issuer?: string | readonly string[];
  /** Required `aud` (the token's `aud` must include one of these). */
  readonly audience?: string | readonly string[];
  /**
   * Leeway for `exp` and `nbf`, in seconds: the clocks of the backend that mints tokens and of the hub
   * differ by a little. @default 5
   */
  readonly clockToleranceSec?: number;
  /** Refuse tokens without `exp` (they would never expire). @default false */
  readonly requireExpiry?: boolean;
  /** Longest accepted token, in characters; longer ones are refused before any parsing. @default 8192 */
  readonly maxTokenLength?: number;
  /** The clock, ms since the epoch (tests inject one). @default Date.now */
  readonly now?: () => number;
}

/** A verified token. */
export interface VerifiedToken {
  /** `sub`: non-empty. */
  readonly userId: string;
  /** `exp` in ms since the epoch; absent when the token has no `exp`. */
  readonly expiresAt?: number;
  /** From the `channels` claim; {@link Capabilities.NONE} when absent. */
  readonly capabilities: Capabilities;
  /** The `info` claim, as the token carried it. */
  readonly info?: unknown;
}

/** Verifies connection tokens. */
export interface TokenVerifier {
  /** The algorithms this verifier accepts. */
  readonly algorithms: readonly TokenAlgorithm[];
  /** Resolves to the token's identity and capabilities, or rejects with {@link AuthError}. Never with anything else. */
  verify(token: string): Promise<VerifiedToken>;
}

/** Default of {@link TokenVerifierOptions.maxTokenLength}. */
export const DEFAULT_MAX_TOKEN_LENGTH = 8192;
/** Default of {@link TokenVerifierOptions.clockToleranceSec}. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 5;

const ALGORITHMS: readonly TokenAlgorithm[] = ['HS256', 'RS256', 'ES256'];
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

interface StaticKey {
  readonly alg: 'RS256' | 'ES256';
  readonly key: KeyObject;
}

/** Which algorithm a PEM public key may verify; throws TypeError for anything else. */
function inspectPublicKey(pem: string): StaticKey {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN ')) throw new TypeError('publicKey must be a PEM string');
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new TypeError('publicKey must be a public key, not a private key');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new TypeError('publicKey is not a readable PEM public key or certificate');
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new TypeError('publicKey: RSA keys must have at least 2048 bits');
    return { alg: 'RS256', key };
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { alg: 'ES256', key };
  throw new TypeError('publicKey must be an RSA key (RS256) or an EC P-256 key (ES256)');
}

function checkDuration(name: string, value: number | undefined, fallback: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new TypeError(`${name} must be an integer from 0 to ${max}`);
  return v;
}

function checkStrings(name: string, value: string | readonly string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new TypeError(`${name} must be a non-empty string or a non-empty array of them`);
  }
  return [...list];
}

/** Whether `token` is three base64url parts (with no other character), scanning once. */
function looksLikeCompactJws(token: string): boolean {
  let dots = 0;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 0x2e) {
      dots++;
      continue;
    }
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
    if (!ok) return false;
  }
  return dots === 2;
}

/** Maps a `jose` failure to a stable code; anything unknown fails closed as `token_invalid`. */
function translate(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  const reject = (code: AuthErrorCode, reason: AuthRejectReason): AuthError => new AuthError(code, reason, { cause: error });
  if (error instanceof jose.errors.JWTExpired) return reject('token_expired', 'expired');
  if (error instanceof jose.errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' && error.reason === 'check_failed') return reject('token_not_yet_valid', 'not_yet_valid');
    if (error.claim === 'iss') return reject('token_invalid', 'bad_issuer');
    if (error.claim === 'aud') return reject('token_invalid', 'bad_audience');
    if (error.claim === 'sub') return reject('token_invalid', 'missing_sub');
    if (error.claim === 'exp') return reject('token_invalid', error.reason === 'missing' ? 'missing_exp' : 'bad_claims');
    return reject('token_invalid', 'bad_claims');
  }
  if (error instanceof jose.errors.JOSEAlgNotAllowed) return reject('token_invalid', 'alg_not_allowed');
  if (error instanceof jose.errors.JWSSignatureVerificationFailed) return reject('token_invalid', 'bad_signature');
  if (error instanceof jose.errors.JWSInvalid || error instanceof jose.errors.JWTInvalid) return reject('token_malformed', 'malformed');
  return reject('token_invalid', 'bad_claims');
}

/**
 * Creates a token verifier. Throws `TypeError` synchronously on a bad option (no key, a weak secret, a private
 * key, an algorithm with no key to back it, an insecure JWKS URL).
 *
 * @example
 * ```ts
 * const verifier = createTokenVerifier({ hmacSecret: process.env.VOLLEY_TOKEN_SECRET!, issuer: 'https://app.example' });
 * try {
 *   const { userId, capabilities, expiresAt } = await verifier.verify(token);
 * } catch (error) {
 *   if (error instanceof AuthError) reply({ code: error.code === 'token_expired' ? 'token_expired' : 'unauthorized', message: error.message });
 * }
 * ```
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { hmacSecret, publicKey, jwksUrl } = options;
  if (hmacSecret === undefined && publicKey === undefined && jwksUrl === undefined) {
    throw new TypeError('one of hmacSecret, publicKey or jwksUrl is required');
  }
  if (publicKey !== undefined && jwksUrl !== undefined) throw new TypeError('publicKey and jwksUrl are exclusive');

  let secret: Uint8Array | undefined;
  if (hmacSecret !== undefined) {
    if (typeof hmacSecret !== 'string') throw new TypeError('hmacSecret must be a string');
    secret = new TextEncoder().encode(hmacSecret);
    if (secret.byteLength < 32) throw new TypeError('hmacSecret must be at least 32 bytes (RFC 7518 §3.2)');
  }
  const staticKey = publicKey === undefined ? undefined : inspectPublicKey(publicKey);
  const jwks = jwksUrl === undefined ? undefined : remoteKeySet(jwksUrl, options);

  const supported = new Set<TokenAlgorithm>();
  if (secret) supported.add('HS256');
  if (staticKey) supported.add(staticKey.alg);
  if (jwks) {
    supported.add('RS256');
    supported.add('ES256');
  }
  let algorithms: TokenAlgorithm[];
  if (options.algorithms === undefined) {
    algorithms = ALGORITHMS.filter((alg) => supported.has(alg));
  } else {
    if (!Array.isArray(options.algorithms) || options.algorithms.length === 0) throw new TypeError('algorithms must be a non-empty array');
    for (const alg of options.algorithms) {
      if (!ALGORITHMS.includes(alg)) throw new TypeError(`unsupported algorithm: ${String(alg)} (use ${ALGORITHMS.join(', ')})`);
      if (!supported.has(alg)) throw new TypeError(`algorithm ${alg} has no configured key to verify it`);
    }
    algorithms = [...new Set(options.algorithms)];
  }

  const issuer = checkStrings('issuer', options.issuer);
  const audience = checkStrings('audience', options.audience);
  const clockTolerance = options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
  if (typeof clockTolerance !== 'number' || !Number.isFinite(clockTolerance) || clockTolerance < 0 || clockTolerance > 300) {
    throw new TypeError('clockToleranceSec must be a number from 0 to 300');
  }
  const maxTokenLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  if (!Number.isInteger(maxTokenLength) || maxTokenLength < 16 || maxTokenLength > 1024 * 1024) {
    throw new TypeError('maxTokenLength must be an integer from 16 to 1048576');
  }
  const now = options.now ?? Date.now;
  if (typeof now !== 'function') throw new TypeError('now must be a function');
  const requiredClaims = options.requireExpiry === true ? ['sub', 'exp'] : ['sub'];

  // The key is chosen by the header's alg only among algorithms already checked against the allowlist
  // (jose checks `algorithms` before it calls this), so a token cannot pick a key of another type.
  const getKey = async (header: jose.JWSHeaderParameters, token: jose.FlattenedJWSInput): Promise<jose.CryptoKey | KeyObject | Uint8Array> => {
    if (header.alg === 'HS256' && secret) return secret;
    if (staticKey && header.alg === staticKey.alg) return staticKey.key;
    if (jwks && (header.alg === 'RS256' || header.alg === 'ES256')) {
      try {
        return await jwks(header, token);
      } catch (error) {
        if (error instanceof jose.errors.JWKSNoMatchingKey) throw new AuthError('token_invalid', 'unknown_kid', { cause: error });
        if (error instanceof jose.errors.JWKSMultipleMatchingKeys) throw new AuthError('token_invalid', 'ambiguous_kid', { cause: error });
        throw new AuthError('auth_unavailable', 'jwks_unavailable', { cause: error });
      }
    }
    throw new AuthError('token_invalid', 'alg_not_allowed');
  };

  const verify = async (token: string): Promise<VerifiedToken> => {
    if (typeof token !== 'string') throw new AuthError('token_malformed', 'not_a_string');
    if (token.length > maxTokenLength) throw new AuthError('token_malformed', 'too_long');
    if (!looksLikeCompactJws(token)) throw new AuthError('token_malformed', 'malformed');
    let payload: jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, getKey, {
        algorithms,
        ...(issuer && { issuer }),
        ...(audience && { audience }),
        requiredClaims,
        clockTolerance,
        currentDate: new Date(now()),
      }));
    } catch (error) {
      throw translate(error);
    }
    const { sub, exp, info } = payload;
    if (typeof sub !== 'string' || sub.length === 0) throw new AuthError('token_invalid', 'missing_sub');
    const capabilities = parseCapabilities(payload['channels']);
    return {
      userId: sub,
      ...(exp !== undefined && { expiresAt: exp * 1000 }),
      capabilities,
      ...(info !== undefined && { info }),
    };
  };

  return Object.freeze({ algorithms: Object.freeze(algorithms), verify });
}

/** The `jose` remote key set for `url`, fetching only that URL, with a bounded response size. */
function remoteKeySet(url: string, options: TokenVerifierOptions): ReturnType<typeof jose.createRemoteJWKSet> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('jwksUrl must be an absolute URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new TypeError('jwksUrl must be an https: URL');
  if (parsed.protocol === 'http:' && !LOOPBACK.has(parsed.hostname) && options.allowInsecureJwksUrl !== true) {
    throw new TypeError('jwksUrl must use https: (http: only on loopback, or with allowInsecureJwksUrl)');
  }
  if (parsed.username !== '' || parsed.password !== '') throw new TypeError('jwksUrl must not carry credentials; use jwksHeaders');
  const timeoutDuration = checkDuration('jwksTimeoutMs', options.jwksTimeoutMs, 5000, 60_000);
  const cooldownDuration = checkDuration('jwksCooldownMs', options.jwksCooldownMs, 30_000, 86_400_000);
  const cacheMaxAge = checkDuration('jwksMaxAgeMs', options.jwksMaxAgeMs, 600_000, 86_400_000);
  const maxBytes = checkDuration('jwksMaxBytes', options.jwksMaxBytes, 512 * 1024, 16 * 1024 * 1024);
  const headers = new Headers(options.jwksHeaders ?? {});
  const href = parsed.href;

  const limitedFetch: jose.FetchImplementation = async (target, init) => {
    // Defence in depth: jose only ever asks for the configured URL; refuse anything else outright.
    if (target !== href) throw new Error('refusing to fetch a URL other than the configured jwksUrl');
    const response = await fetch(target, init);
    if (response.status !== 200) {
      // jose refuses anything but 200; do not read the body at all.
      await response.body?.cancel().catch(() => undefined);
      return new Response(null, { status: response.status });
    }
    const body = await readLimitedBody(response.body, maxBytes);
    if (body === undefined) throw new Error('JWKS response too large');
    return new Response(body, { status: response.status, headers: response.headers });
  };

  return jose.createRemoteJWKSet(parsed, {
    timeoutDuration,
    cooldownDuration,
    cacheMaxAge,
    headers: Object.fromEntries(headers),
    [jose.customFetch]: limitedFetch,
  });
}
