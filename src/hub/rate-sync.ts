/**
 * {@link RateLimitSync}: the node side of shared rate limits (shared-limits.ts explains the design and its
 * bound). It collects what the local buckets of the `user`, `ip` and `channel` scopes admitted, debits it to a
 * {@link SharedRateLimitStore} per key, and sets each local bucket to the shared level.
 *
 * Per key, debits are throttled with a leading and a trailing edge: a key not debited within the last
 * `syncIntervalMs` is debited at once (so a node that has not seen the key lately learns its shared level after
 * one round trip, not one interval), and a busy key at most once per interval. One debit per key is in flight at
 * a time.
 *
 * @module
 */

import { type Clock, type RateCost, type RateLimiter, type RateLimitScope } from './rate-limit.js';
import type { SharedLevels, SharedRateLimitScope, SharedRateLimitStore } from './shared-limits.js';

/** Options of {@link RateLimitSync}. */
export interface RateLimitSyncOptions {
  /** Where the shared buckets are. */
  readonly store: SharedRateLimitStore;
  /** The node's buckets: they admit, and receive the shared levels. Its `syncIntervalMs` sets the pace. */
  readonly limiter: RateLimiter;
  /** Called once when a debit fails after the store answered (or before it ever did): an outage begins. */
  readonly onOutage?: (error: unknown) => void;
  /** Called once when a debit succeeds again after an outage. */
  readonly onRecovery?: () => void;
  /** The clock of the throttle, in ms. @default performance.now */
  readonly now?: Clock;
}

/** One key's debits. */
interface KeyState {
  readonly scope: SharedRateLimitScope;
  readonly key: string;
  /** Admitted and not yet sent. */
  commands: number;
  bytes: number;
  /** The debit in flight, if any. */
  flight: Promise<void> | null;
  /** When the last debit was sent. */
  sentAt: number;
}

/**
 * Debits the admissions of shared scopes, per key, at once when the key was quiet and then at most once per
 * interval; applies the shared levels to the local buckets. Failures fail open (see shared-limits.ts).
 *
 * @example
 * ```ts
 * const sync = new RateLimitSync({ store: engine.rateLimits, limiter });
 * if (limiter.check('user', userId, cost).allowed) sync.spent('user', userId, cost);
 * ```
 */
export class RateLimitSync {
  readonly #store: SharedRateLimitStore;
  readonly #limiter: RateLimiter;
  readonly #onOutage: (error: unknown) => void;
  readonly #onRecovery: () => void;
  readonly #now: Clock;
  readonly #intervalMs: number;
  /** Keys debited within the last interval or with something to debit, by `scope NUL key`. */
  readonly #keys = new Map<string, KeyState>();
  #timer: NodeJS.Timeout | null = null;
  #failing = false;
  #closed = false;

  constructor(options: RateLimitSyncOptions) {
    this.#store = options.store;
    this.#limiter = options.limiter;
    this.#onOutage = options.onOutage ?? noop;
    this.#onRecovery = options.onRecovery ?? noop;
    this.#now = options.now ?? (() => performance.now());
    this.#intervalMs = options.limiter.syncIntervalMs;
  }

  /** Records `cost` admitted by the local check of `scope` (ignored for `connection` and unlimited scopes). */
  spent(scope: RateLimitScope, key: string, cost: Required<RateCost>): void {
    if (scope === 'connection' || this.#closed || !this.#limiter.enabled(scope)) return;
    const id = `${scope}\u0000${key}`;
    let state = this.#keys.get(id);
    if (state === undefined) {
      state = { scope, key, commands: 0, bytes: 0, flight: null, sentAt: -Infinity };
      this.#keys.set(id, state);
    }
    state.commands += cost.commands;
    state.bytes += cost.bytes;
    if (state.flight === null && this.#now() - state.sentAt >= this.#intervalMs) this.#send(state);
    else this.#startTimer();
  }

  /** Keys with admissions not yet sent. */
  get pending(): number {
    let count = 0;
    for (const state of this.#keys.values()) if (hasPending(state)) count++;
    return count;
  }

  /**
   * Sends every key's pending admissions now (those with a debit in flight once it is back) and resolves when
   * every debit has settled. Never rejects.
   */
  async sync(): Promise<void> {
    // Two passes: the second sends what waited behind a debit that was in flight during the first.
    for (let pass = 0; pass < 2; pass++) {
      await Promise.all([...this.#keys.values()].map((state) => state.flight ?? (hasPending(state) ? this.#send(state) : null)));
    }
  }

  /** Stops syncing; what is pending is dropped. */
  close(): void {
    this.#closed = true;
    this.#stopTimer();
    this.#keys.clear();
  }

  /** The trailing edge: every interval, debits what is pending and forgets keys quiet for a whole interval. */
  #tick(): void {
    const now = this.#now();
    for (const [id, state] of this.#keys) {
      if (state.flight !== null) continue;
      if (hasPending(state)) this.#send(state);
      else if (now - state.sentAt >= this.#intervalMs) this.#keys.delete(id);
    }
    if (this.#keys.size === 0) this.#stopTimer();
  }

  #startTimer(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #send(state: KeyState): Promise<void> {
    const spent = { commands: state.commands, bytes: state.bytes };
    state.commands = 0;
    state.bytes = 0;
    state.sentAt = this.#now();
    state.flight = this.#debit(state, spent).finally(() => {
      state.flight = null;
      if (hasPending(state)) this.#startTimer();
    });
    this.#startTimer();
    return state.flight;
  }

  async #debit(state: KeyState, spent: { commands: number; bytes: number }): Promise<void> {
    const limits = this.#limiter.limitsOf(state.scope);
    if (limits === undefined) return;
    let levels: SharedLevels;
    try {
      levels = await this.#store.debit(state.scope, state.key, {
        ...(limits.commands && { commands: { ...limits.commands, spent: spent.commands } }),
        ...(limits.bytes && { bytes: { ...limits.bytes, spent: spent.bytes } }),
      });
    } catch (error) {
      // Fail open: these admissions are not counted across nodes; each node still applies its own buckets.
      if (!this.#failing) {
        this.#failing = true;
        this.#onOutage(error);
      }
      return;
    }
    if (this.#failing) {
      this.#failing = false;
      this.#onRecovery();
    }
    if (this.#closed) return;
    // What this node admitted while the debit was out is not in the shared levels yet.
    this.#limiter.assign(state.scope, state.key, {
      ...(levels.commands !== undefined && { commands: levels.commands - state.commands }),
      ...(levels.bytes !== undefined && { bytes: levels.bytes - state.bytes }),
    });
  }
}

function hasPending(state: KeyState): boolean {
  return state.commands > 0 || state.bytes > 0;
}

function noop(): void {}
