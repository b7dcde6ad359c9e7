/**
 * The rule for tests that need something outside the process (a Redis, the redis-server binaries, a plain
 * `redis://` URL): where it is missing, the test is skipped with a one-line reason, except under `CI=true`, where
 * CI must run everything and a missing requirement fails the test.
 *
 * @example
 * ```ts
 * test('needs Redis', async (t) => {
 *   if (!presentOrSkip(t, await probeRedis())) return;
 *   // …
 * });
 * ```
 *
 * @module
 */

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

/**
 * True when `missing` is `undefined` (nothing the test needs is missing). Otherwise skips the test with `missing`
 * as the reason and returns false, or, under `CI=true`, fails the test.
 */
export function presentOrSkip(t: TestContext, missing: string | undefined): boolean {
  if (missing === undefined) return true;
  if (process.env['CI'] === 'true') assert.fail(`${missing}; CI=true requires it`);
  t.skip(missing);
  return false;
}

/**
 * Calls `register` (which registers tests or suites) when `missing` is `undefined`; otherwise registers one test
 * named `name` in their place, which {@link presentOrSkip} skips or fails.
 */
export function registerOrSkip(name: string, missing: string | undefined, register: () => void): void {
  if (missing === undefined) register();
  else test(name, (t) => void presentOrSkip(t, missing));
}
