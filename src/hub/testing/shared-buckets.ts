/**
 * A {@link SharedRateLimitStore} in memory for tests: the reference arithmetic of a shared bucket (refill up to the
 * burst, then take what was spent even below zero) on an injected clock, with every call recorded and failures on
 * demand. Several hubs in one process given the same instance share their buckets, as nodes on one Redis do.
 *
 * @module
 */

import { TokenBucket, type Clock } from '../rate-limit.js';
import type { SharedDebit, SharedLevels, SharedRateLimitScope, SharedRateLimitStore } from '../shared-limits.js';

/** Shared token buckets in this process. */
export class MemorySharedBuckets implements SharedRateLimitStore {
  /** Every debit, in call order. */
  readonly calls: Array<[scope: SharedRateLimitScope, key: string, debit: SharedDebit]> = [];
  /** While set, every debit rejects with it (and changes nothing). */
  failure: Error | null = null;
  /** While set, every debit waits for it before it applies. */
  gate: Promise<void> | null = null;
  readonly #now: Clock;
  readonly #buckets = new Map<string, { commands?: TokenBucket; bytes?: TokenBucket }>();

  constructor(now: Clock = () => performance.now()) {
    this.#now = now;
  }

  async debit(scope: SharedRateLimitScope, key: string, debit: SharedDebit): Promise<SharedLevels> {
    this.calls.push([scope, key, debit]);
    if (this.gate !== null) await this.gate;
    if (this.failure !== null) throw this.failure;
    const id = `${scope}\u0000${key}`;
    const buckets = this.#buckets.get(id) ?? {};
    this.#buckets.set(id, buckets);
    const levels: { commands?: number; bytes?: number } = {};
    for (const dimension of ['commands', 'bytes'] as const) {
      const given = debit[dimension];
      if (given === undefined) continue;
      const bucket = (buckets[dimension] ??= new TokenBucket({ rate: given.rate, burst: given.burst }, this.#now));
      bucket.consume(given.spent);
      levels[dimension] = bucket.available;
    }
    return levels;
  }

  /** The level of a bucket now, in tokens (undefined for one never debited). */
  level(scope: SharedRateLimitScope, key: string, dimension: 'commands' | 'bytes' = 'commands'): number | undefined {
    return this.#buckets.get(`${scope}\u0000${key}`)?.[dimension]?.available;
  }
}
