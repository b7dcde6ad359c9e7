/**
 * What several nodes must share so that limits meant per user, IP or channel, and idempotency keys, hold across
 * the hub rather than per node: a {@link SharedRateLimitStore} and an {@link IdempotencyStore}. Both are
 * optional hub options; without them each node limits and dedupes on its own (memory, exact on one node).
 * `engines/redis` implements both (`RedisEngine.rateLimits`, `RedisEngine.idempotency`).
 *
 * ## Shared rate limits: local admission, batched debits
 *
 * The hub decides every command synchronously, before it is queued, so that one client's commands keep their
 * order and a flood costs no I/O. Asking the store for each command would put a round trip in front of every
 * command and one store call behind it. Instead, for the `user`, `ip` and `channel` scopes:
 *
 * 1. the node admits with its own token bucket for the key, as a single node does;
 * 2. it sends what it admitted to the store, which takes it from the shared bucket unconditionally (the level may
 *    go below zero: a debt) and answers the level after the debit ({@link SharedRateLimitStore.debit}). A key
 *    the node has not debited within the last `syncIntervalMs` (default 100) is sent at once; after that, what
 *    the key admits is sent in one debit per interval;
 * 3. the node sets its bucket for the key to that level, less what it admitted while the call was out. A shared
 *    bucket that is empty or in debt thus refuses on every node that uses the key, until it has refilled.
 *
 * The `connection` scope never leaves the node: a connection lives on one node.
 *
 * **Over-admission bound.** A node refuses nothing that its own view of the bucket allows, and its view lags the
 * shared bucket by what the other nodes admitted since its last debit came back. Let Δ = `syncIntervalMs` + one
 * store round trip, N the number of nodes the key is used on, and `rate`, `burst` the scope's limits. Then:
 *
 * - one node alone never admits more than the limit (its view includes everything it admitted);
 * - a node that has not used the key lately admits on its own view (at most `burst`) until its first debit for
 *   it returns, one round trip later. A client that waits for each reply thus gets one command through on a
 *   node it moves to, then that node knows the shared level;
 * - in the worst case — a full bucket flooded on every node at once, faster than a round trip — the hub admits
 *   at most `(N − 1) × (burst + rate × Δ)` beyond the limit: each node admits at most its view (`burst`) plus
 *   `rate × Δ` before it learns what the others took;
 * - the excess is recorded as a debt, so every node refuses the key until it is repaid: over any window of T
 *   seconds the key gets at most `burst + rate × T + (N − 1) × (burst + rate × Δ)`, and on average its limit.
 *
 * Store calls: at most one per key with traffic per `syncIntervalMs` per node. When the store fails (Redis
 * unreachable), the node fails open: the failed debits are dropped, the outage is logged once, and each
 * node limits on its own (the single-node behaviour) until the store answers again. A refusal never waits for
 * the store.
 *
 * ## Idempotency without history
 *
 * With history, the history store dedupes idempotency keys in the same atomic step as the append. Without
 * history, {@link IdempotencyStore.publishOnce} remembers the key and publishes in one atomic step, so that of
 * any number of publishes with one key within the window, on any nodes, at once or one after the other, exactly
 * one is delivered. The result of a channel without history is always `{ epoch: '', offset: 0 }`, so a repeat
 * answers exactly what the first publish answered. A store failure fails the publish (`unavailable`), as a
 * history append does during an outage: never a silent loss, and a retry with the same key is safe.
 *
 * @module
 */

import type { Publication } from './engine.js';

/** The rate-limit scopes that can be shared between nodes. */
export type SharedRateLimitScope = 'user' | 'ip' | 'channel';

/** One dimension of a debit: the bucket's settings and the tokens admitted. */
export interface BucketDebit {
  /** Tokens added per second. */
  readonly rate: number;
  /** Capacity; the bucket starts full. */
  readonly burst: number;
  /** Tokens admitted since the last debit (≥ 0). */
  readonly spent: number;
}

/** What a node admitted for one key, per limited dimension (a dimension without limits is absent). */
export interface SharedDebit {
  readonly commands?: BucketDebit;
  readonly bytes?: BucketDebit;
}

/** Levels after a debit, in tokens, for the dimensions of the debit. Negative is a debt. */
export interface SharedLevels {
  readonly commands?: number;
  readonly bytes?: number;
}

/**
 * Token buckets shared by every node of a hub, keyed by scope and key. The buckets themselves decide nothing:
 * each node admits locally and debits what it admitted (see the module description).
 */
export interface SharedRateLimitStore {
  /**
   * Refills the bucket of `key` in `scope` at `rate` per second up to `burst` (a bucket never seen is full), then
   * takes `spent` from it even when that leaves it below zero, and resolves to the level after the debit, per
   * dimension given. Atomic per key: concurrent debits from several nodes all count.
   */
  debit(scope: SharedRateLimitScope, key: string, debit: SharedDebit): Promise<SharedLevels>;
}

/** Options of {@link IdempotencyStore.publishOnce}. */
export interface PublishOnceOptions {
  /** The client-supplied key. */
  readonly idempotencyKey: string;
  /** How long the key is remembered, in ms. */
  readonly windowMs: number;
}

/**
 * Idempotent publishing in channels without history (offset 0, epoch `''`), shared by every node of a hub.
 */
export interface IdempotencyStore {
  /**
   * Delivers `publication` to every node subscribed to `channel` (as `Broker.publish` does) unless
   * `idempotencyKey` was used in `channel` within `windowMs`; resolves whether it published. Remembering the key
   * and publishing are one atomic step: of concurrent calls with one key, on any nodes, exactly one publishes,
   * and a call that rejects remembered nothing — unless its outcome is unknown (the connection dropped while it
   * was in flight), in which case a retry with the same key is still safe.
   */
  publishOnce(channel: string, publication: Publication, options: PublishOnceOptions): Promise<boolean>;
}
