/**
 * API key checks for `Authorization: apikey KEY` (the scheme name is case-insensitive, as RFC 9110 §11.1 says
 * of every auth scheme).
 *
 * Keys are compared as SHA-256 digests with `timingSafeEqual`: the digests always have the same length, so
 * neither the comparison time nor an early length check tells an attacker how much of a guess was right, or
 * how long the real key is.
 *
 * @module
 */

import { createHash, timingSafeEqual } from 'node:crypto';

/** Checks request headers against one configured key. */
export class ApiKeyCheck {
  readonly #digest: Buffer;

  /** @param key the configured key; must not be empty. */
  constructor(key: string) {
    if (typeof key !== 'string' || key === '') throw new TypeError('the API key must be a non-empty string');
    this.#digest = digest(key);
  }

  /** Whether an `Authorization` header value carries the configured key. */
  matches(header: string | undefined): boolean {
    if (header === undefined) return false;
    const match = /^apikey[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (match === null) return false;
    return timingSafeEqual(digest(match[1]!), this.#digest);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
