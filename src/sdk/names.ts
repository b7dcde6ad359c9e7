/**
 * Client-side checks of what the hub would refuse anyway (docs/protocol.md §13): channel names, RPC
 * methods and idempotency keys. A caller's mistake throws synchronously instead of costing a round trip.
 *
 * @module
 */

import { CHANNEL_NAME_PATTERN, RESERVED_NAMES } from '../hub/wire.js';
import { invalidArgument } from './errors.js';

/** Why `name` is not a valid channel (or method) name, or null when it is. */
export function channelNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length < 1 || name.length > 255) return 'must be 1 to 255 characters long';
  if (!CHANNEL_NAME_PATTERN.test(name)) return 'may only contain letters, digits and _-.@=/,;# in segments separated by ":"';
  const first = name.split(':', 1)[0]!;
  if (RESERVED_NAMES.has(first)) return `uses the reserved name "${first}"`;
  return null;
}

/** @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` when `name` is not a valid channel name. */
export function checkChannel(name: unknown, what = 'channel'): asserts name is string {
  const problem = channelNameProblem(name);
  if (problem !== null) throw invalidArgument(`${what} ${JSON.stringify(name)} ${problem}`);
}

/** @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` for a key the hub would refuse. */
export function checkIdempotencyKey(key: unknown): asserts key is string {
  // eslint-disable-next-line no-control-regex
  if (typeof key !== 'string' || key.length < 1 || key.length > 128 || /[\u0000-\u001f\u007f-\u009f]/.test(key)) {
    throw invalidArgument('idempotencyKey must be 1 to 128 characters without control characters');
  }
}

/**
 * @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` when `data` is not a JSON value (undefined, a function, a
 * BigInt, a cycle).
 */
export function checkJson(data: unknown, what: string): void {
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (error) {
    throw invalidArgument(`${what} must be a JSON value: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text === undefined) throw invalidArgument(`${what} must be a JSON value, got ${typeof data}`);
}
