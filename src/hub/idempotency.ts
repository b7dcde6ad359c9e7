/**
 * {@link LocalIdempotency}: the default {@link IdempotencyStore}, for one node: idempotency keys of channels
 * without history remembered in this node's memory, publishing through the node's broker.
 *
 * @module
 */

import type { Broker, Publication } from './engine.js';
import type { IdempotencyStore, PublishOnceOptions } from './shared-limits.js';

/**
 * Remembers each key in memory until its window ends. Exact on one node: the hub runs the publishes of one
 * channel one after another, so a key is checked only after the previous publish with it has been recorded. With
 * several nodes a retry that lands on another node is not recognised: use a shared store (`RedisEngine.idempotency`).
 *
 * @example
 * ```ts
 * const idempotency = new LocalIdempotency(broker);
 * const published = await idempotency.publishOnce('ticker', { offset: 0, data, time }, { idempotencyKey: 'k', windowMs: 120_000 });
 * ```
 */
export class LocalIdempotency implements IdempotencyStore {
  readonly #broker: Broker;
  readonly #now: () => number;
  /** `channel NUL key` → when the key's window ends; in insertion order, which is time order. */
  readonly #until = new Map<string, number>();

  constructor(broker: Broker, now: () => number = Date.now) {
    this.#broker = broker;
    this.#now = now;
  }

  async publishOnce(channel: string, publication: Publication, options: PublishOnceOptions): Promise<boolean> {
    const started = this.#now();
    this.#expire(started);
    const id = `${channel}\u0000${options.idempotencyKey}`;
    const until = this.#until.get(id);
    if (until !== undefined && until > started) return false;
    await this.#broker.publish(channel, publication, '');
    // Only a publish that succeeded counts: after a failure the client's retry must publish.
    this.#until.delete(id);
    this.#until.set(id, started + options.windowMs);
    return true;
  }

  /** How many keys are remembered. */
  get size(): number {
    return this.#until.size;
  }

  /** Forgets the keys whose window has ended, oldest first (with one window for all keys, they are a prefix). */
  #expire(now: number): void {
    for (const [id, until] of this.#until) {
      if (until > now) return;
      this.#until.delete(id);
    }
  }
}
