/**
 * Connect tokens for tests, minted with `jose` (the backend's side of the handshake), plus the unsigned and
 * hand-made ones a verifier must refuse.
 *
 * @example
 * ```ts
 * const token = await mintToken({ sub: 'alice', channels: { 'chat:*': ['subscribe'] } }, { expiresInSec: 60 });
 * ```
 *
 * @module
 */

import * as jose from 'jose';

/** A 32-byte HS256 secret shared by the test hubs and {@link mintToken}. */
export const TEST_SECRET = 'volley-test-secret-0123456789abcdef';

/** Options of {@link mintToken}. */
export interface MintOptions {
  /** @default TEST_SECRET */
  secret?: string;
  /** `exp` this many seconds from now (may be negative); absent: no `exp`. */
  expiresInSec?: number;
  /** `exp` at exactly this time, in ms since the epoch (rounded up to a second). */
  expiresAtMs?: number;
  /** `nbf` this many seconds from now. */
  notBeforeInSec?: number;
}

/** An HS256 token carrying `claims`. */
export async function mintToken(claims: Record<string, unknown>, options: MintOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { iat: now, ...claims };
  if (options.expiresInSec !== undefined) payload['exp'] = now + options.expiresInSec;
  if (options.expiresAtMs !== undefined) payload['exp'] = Math.ceil(options.expiresAtMs / 1000);
  if (options.notBeforeInSec !== undefined) payload['nbf'] = now + options.notBeforeInSec;
  return new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

/** An unsecured JWT (`alg: none`, empty signature) carrying `claims`. */
export function unsignedToken(claims: Record<string, unknown>): string {
  return `${jose.base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${jose.base64url.encode(JSON.stringify(claims))}.`;
}
