/**
 * Conformance cases that expose a known library bug. They stay in the suite, marked `todo` so that `npm test`
 * stays green until the fix lands; then delete the entry and the case must pass.
 *
 * @module
 */

/** Which suite a case belongs to: Volley's server played by the raw client, or Volley's client by the raw server. */
export type Suite = 'server' | 'client';

/** `suite:id` → why the case fails today. Empty: every case must pass. */
const KNOWN_BUGS: Readonly<Record<string, string>> = {};

/** Test options for case `id` of `suite`: `base`, plus `todo` when the case exposes a known bug. */
export function caseOptions(suite: Suite, id: string, base: { timeout: number }): { timeout: number; todo?: string } {
  const todo = KNOWN_BUGS[`${suite}:${id}`];
  return todo === undefined ? base : { ...base, todo };
}
