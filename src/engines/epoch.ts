/**
 * Epoch identifiers: a new random one names each stream's continuity (see `StreamPosition` in hub/engine.ts).
 *
 * @module
 */

import { randomBytes } from 'node:crypto';

/**
 * A random epoch: 12 URL-safe base64 characters (72 random bits), e.g. `"q3Zk9_bT0xLw"`. Short enough for every
 * wire message, and random enough that a recreated stream never reuses an epoch a client still holds.
 */
export function randomEpoch(): string {
  return randomBytes(9).toString('base64url');
}
