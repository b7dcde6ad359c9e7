/**
 * Rate limits: token buckets per connection, user, IP and channel, for commands and bytes per second, with
 * bounded memory; and the escalation policy (notify with `rate_limited {retryAfterMs}` first, disconnect with
 * 4001 if the client keeps going).
 *
 * Time is injected (`now`, in ms) so that tests drive the arithmetic exactly. Buckets keep their level in
 * thousandths of a token, so with an integer clock and an integer rate every refill is an exact integer.
 *
 * @module
 */

import type { SharedLevels, SharedRateLimitStore } from './shared-limits.js';
import { DisconnectCode } from './wire.js';

/** A clock in milliseconds; must not run backwards (a step back is ignored). */
export type Clock = () => number;

const monotonic: Clock = () => performance.now();

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second (> 0). */
  readonly rate: number;
  /** Capacity: the most tokens that can be spent at once (≥ 1). The bucket starts full. */
  readonly burst: number;
}

/** Largest accepted burst (keeps the scaled level well inside the exact range of a double). */
const MAX_BURST = 2 ** 40;

function checkBucketOptions(options: TokenBucketOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('bucket options must be an object');
  const { rate, burst } = options;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) throw new RangeError('rate must be a finite number > 0');
  if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1 || burst > MAX_BURST) {
    throw new RangeError(`burst must be a number from 1 to ${MAX_BURST}`);
  }
}

/**
 * A token bucket: `burst` tokens at most, refilled at `rate` per second. Denied takes cost nothing.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ rate: 10, burst: 20 });
 * const wait = bucket.take();      // 0: allowed
 * if (wait > 0) reply({ code: 'rate_limited', retryAfterMs: wait });
 * ```
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  readonly #now: Clock;
  /** Tokens × 1000. */
  #level: number;
  #last: number;

  constructor(options: TokenBucketOptions, now: Clock = monotonic) {
    checkBucketOptions(options);
    if (typeof now !== 'function') throw new TypeError('now must be a function');
    this.rate = options.rate;
    this.burst = options.burst;
    this.#now = now;
    this.#level = options.burst * 1000;
    this.#last = now();
  }

  #refill(): void {
    const t = this.#now();
    if (t > this.#last) {
      // (t - last) ms × rate tokens/s = (t - last) × rate thousandths of a token.
      this.#level = Math.min(this.burst * 1000, this.#level + (t - this.#last) * this.rate);
      this.#last = t;
    }
  }

  /** Tokens available now (fractional). */
  get available(): number {
    this.#refill();
    return this.#level / 1000;
  }

  /**
   * Milliseconds until `cost` tokens are available, without taking any: 0 when they are available now,
   * `Infinity` when `cost` exceeds `burst` (it can never be allowed).
   */
  delay(cost = 1): number {
    checkCost(cost);
    if (cost > this.burst) return Infinity;
    this.#refill();
    const deficit = cost * 1000 - this.#level;
    return deficit <= 0 ? 0 : Math.ceil(deficit / this.rate);
  }

  /**
   * Takes `cost` tokens if available and returns 0; otherwise takes nothing and returns the ms until enough
   * tokens will be there (`Infinity` when `cost > burst`).
   */
  take(cost = 1): number {
    const wait = this.delay(cost);
    if (wait === 0) this.#level -= cost * 1000;
    return wait;
  }

  /** Takes `cost` tokens unconditionally (call after {@link delay} returned 0). */
  consume(cost: number): void {
    checkCost(cost);
    this.#refill();
    this.#level -= cost * 1000;
  }

  /**
   * Sets the level to `tokens` as of now: at most `burst`, and below zero for a debt that refills first (until
   * it is repaid every take waits). Used to adopt a level learned elsewhere, such as a bucket shared by nodes.
   */
  assign(tokens: number): void {
    if (typeof tokens !== 'number' || Number.isNaN(tokens)) throw new RangeError('tokens must be a number');
    this.#refill();
    this.#level = Math.min(this.burst, tokens) * 1000;
  }
}

function checkCost(cost: number): void {
  if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) throw new RangeError('cost must be a finite number ≥ 0');
}

/** What a rate-limited thing is keyed by. */
export type RateLimitScope = 'connection' | 'user' | 'ip' | 'channel';

/** Every {@link RateLimitScope}. */
export const RATE_LIMIT_SCOPES: readonly RateLimitScope[] = Object.freeze(['connection', 'user', 'ip', 'channel']);

/**
 * Limits of one scope. A dimension without a rate is not limited. A burst without a rate is an error; a rate
 * without a burst gets a burst of twice the rate (one second of slack on top of the steady rate).
 */
export interface ScopeLimits {
  /** Commands per second. */
  readonly commandsPerSecond?: number;
  /** @default 2 × commandsPerSecond */
  readonly commandsBurst?: number;
  /** Inbound bytes per second (encoded size of commands). */
  readonly bytesPerSecond?: number;
  /** Must be at least the largest message size, or the largest messages are never allowed. @default 2 × bytesPerSecond */
  readonly bytesBurst?: number;
}

/**
 * Defaults of the `connection` scope: 100 commands/s (burst 200) and 1 MiB/s (burst 2 MiB). A real client
 * sends a few commands per second; 100/s with a burst of 200 leaves room for a reconnect that resubscribes to
 * a hundred channels at once, and stops a flood (reliability L3) within two seconds.
 */
export const DEFAULT_CONNECTION_LIMITS: ScopeLimits = Object.freeze({
  commandsPerSecond: 100,
  commandsBurst: 200,
  bytesPerSecond: 1024 * 1024,
  bytesBurst: 2 * 1024 * 1024,
});

/**
 * Options of {@link RateLimiter}. Per scope: absent gives the default, `false` turns the scope off, an object
 * sets exactly the limits it names.
 *
 * Only `connection` is on by default: it is local to one node and has no innocent bystanders. `user`, `ip`
 * and `channel` are off by default, because each needs a number only the application knows: users open many
 * tabs; many users share one IP behind NAT, a campus or a carrier; a busy channel's publish rate is the
 * product's business. (Connections per IP are limited at admission instead.) These buckets live in one node's
 * memory; with several nodes, give the hub a {@link SharedRateLimitStore} so that a user, IP or channel gets one
 * limit across nodes (hub option `sharedRateLimits`, see shared-limits.ts).
 */
export interface RateLimitOptions {
  /** @default {@link DEFAULT_CONNECTION_LIMITS} */
  readonly connection?: ScopeLimits | false;
  /** @default false */
  readonly user?: ScopeLimits | false;
  /** @default false */
  readonly ip?: ScopeLimits | false;
  /** @default false */
  readonly channel?: ScopeLimits | false;
  /**
   * Most keys remembered per scope; beyond it the least recently used key is forgotten (its bucket restarts
   * full). About 200 bytes per key. @default 100000
   */
  readonly maxKeys?: number;
  /**
   * With a {@link SharedRateLimitStore} (several nodes): how often, in ms, a node reports what it admitted in the
   * `user`, `ip` and `channel` scopes and learns the shared levels. Shorter is tighter (see the over-admission
   * bound in shared-limits.ts) and costs more store calls: at most one per active key per interval per node.
   * @default 100
   */
  readonly syncIntervalMs?: number;
  /** The clock, in ms. @default performance.now */
  readonly now?: Clock;
}

/** Default of {@link RateLimitOptions.maxKeys}. */
export const DEFAULT_MAX_KEYS = 100_000;

/** Default of {@link RateLimitOptions.syncIntervalMs}. */
export const DEFAULT_SYNC_INTERVAL_MS = 100;

/** What one command costs. */
export interface RateCost {
  /** @default 1 */
  readonly commands?: number;
  /** @default 0 */
  readonly bytes?: number;
}

/**
 * The outcome of {@link RateLimiter.check}. `retryAfterMs` is `Infinity` when the cost can never fit (more
 * bytes than the burst): the hub should treat that command as too large rather than ask for a retry.
 */
export type RateLimitResult = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

const ALLOWED: RateLimitResult = Object.freeze({ allowed: true });

/** The bucket settings of one scope, per limited dimension. */
export interface ScopeConfig {
  readonly commands?: TokenBucketOptions;
  readonly bytes?: TokenBucketOptions;
}

interface Buckets {
  readonly commands?: TokenBucket;
  readonly bytes?: TokenBucket;
}

function dimension(scope: string, name: string, rate: number | undefined, burst: number | undefined): TokenBucketOptions | undefined {
  if (rate === undefined) {
    if (burst !== undefined) throw new TypeError(`${scope}.${name}Burst needs ${scope}.${name}PerSecond`);
    return undefined;
  }
  const options = { rate, burst: burst ?? Math.ceil(rate * 2) };
  try {
    checkBucketOptions(options);
  } catch (error) {
    throw new RangeError(`${scope}.${name}: ${(error as Error).message}`);
  }
  return options;
}

function scopeConfig(scope: RateLimitScope, limits: ScopeLimits | false | undefined): ScopeConfig | undefined {
  const effective = limits === undefined ? (scope === 'connection' ? DEFAULT_CONNECTION_LIMITS : false) : limits;
  if (effective === false) return undefined;
  if (typeof effective !== 'object' || effective === null) throw new TypeError(`${scope} must be an object or false`);
  const commands = dimension(scope, 'commands', effective.commandsPerSecond, effective.commandsBurst);
  const bytes = dimension(scope, 'bytes', effective.bytesPerSecond, effective.bytesBurst);
  if (!commands && !bytes) return undefined;
  return { ...(commands && { commands }), ...(bytes && { bytes }) };
}

/**
 * Keyed token buckets for the four scopes. Memory is bounded by `maxKeys` per scope (least recently used
 * keys are forgotten first). A check is allowed only when every limited dimension allows it, and a denied
 * check takes nothing from any bucket.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ user: { commandsPerSecond: 50 } });
 * const verdict = limiter.check('connection', clientId, { commands: 1, bytes: frame.byteLength });
 * if (!verdict.allowed) reply({ code: 'rate_limited', retryAfterMs: verdict.retryAfterMs });
 * ```
 */
export class RateLimiter {
  readonly #configs: Readonly<Record<RateLimitScope, ScopeConfig | undefined>>;
  readonly #buckets: Record<RateLimitScope, Map<string, Buckets>>;
  readonly #maxKeys: number;
  readonly #now: Clock;
  /** See {@link RateLimitOptions.syncIntervalMs}; the limiter itself does not use it. */
  readonly syncIntervalMs: number;

  constructor(options: RateLimitOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be an integer ≥ 1');
    const syncIntervalMs = options.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    if (!Number.isSafeInteger(syncIntervalMs) || syncIntervalMs < 1) throw new RangeError('syncIntervalMs must be an integer ≥ 1');
    this.syncIntervalMs = syncIntervalMs;
    const now = options.now ?? monotonic;
    if (typeof now !== 'function') throw new TypeError('now must be a function');
    this.#maxKeys = maxKeys;
    this.#now = now;
    this.#configs = {
      connection: scopeConfig('connection', options.connection),
      user: scopeConfig('user', options.user),
      ip: scopeConfig('ip', options.ip),
      channel: scopeConfig('channel', options.channel),
    };
    this.#buckets = { connection: new Map(), user: new Map(), ip: new Map(), channel: new Map() };
  }

  /** Whether `scope` has any limit. */
  enabled(scope: RateLimitScope): boolean {
    return this.#config(scope) !== undefined;
  }

  /** The bucket settings of `scope`, or undefined when it is not limited. */
  limitsOf(scope: RateLimitScope): ScopeConfig | undefined {
    return this.#config(scope);
  }

  #config(scope: RateLimitScope): ScopeConfig | undefined {
    if (!Object.hasOwn(this.#configs, scope)) throw new TypeError(`unknown scope: ${String(scope)}`);
    return this.#configs[scope];
  }

  /**
   * Charges `cost` to `key` in `scope` if every limit allows it. Unlimited scopes always allow and remember
   * nothing.
   */
  check(scope: RateLimitScope, key: string, cost: RateCost = {}): RateLimitResult {
    const config = this.#config(scope);
    const commands = cost.commands ?? 1;
    const bytes = cost.bytes ?? 0;
    checkCost(commands);
    checkCost(bytes);
    if (config === undefined) return ALLOWED;
    if (typeof key !== 'string') throw new TypeError('key must be a string');
    const buckets = this.#lookup(scope, key, config);
    const wait = Math.max(buckets.commands?.delay(commands) ?? 0, buckets.bytes?.delay(bytes) ?? 0);
    if (wait > 0) return { allowed: false, retryAfterMs: wait };
    buckets.commands?.consume(commands);
    buckets.bytes?.consume(bytes);
    return ALLOWED;
  }

  #lookup(scope: RateLimitScope, key: string, config: ScopeConfig): Buckets {
    const map = this.#buckets[scope];
    let buckets = map.get(key);
    if (buckets !== undefined) {
      // Move to the most recently used end (a Map iterates in insertion order).
      map.delete(key);
    } else {
      buckets = {
        ...(config.commands && { commands: new TokenBucket(config.commands, this.#now) }),
        ...(config.bytes && { bytes: new TokenBucket(config.bytes, this.#now) }),
      };
      if (map.size >= this.#maxKeys) map.delete(map.keys().next().value!);
    }
    map.set(key, buckets);
    return buckets;
  }

  /**
   * Sets the levels of `key`'s buckets in `scope` (see {@link TokenBucket.assign}); dimensions not given, and
   * scopes without limits, are left alone.
   */
  assign(scope: RateLimitScope, key: string, levels: SharedLevels): void {
    const config = this.#config(scope);
    if (config === undefined) return;
    const buckets = this.#lookup(scope, key, config);
    if (levels.commands !== undefined) buckets.commands?.assign(levels.commands);
    if (levels.bytes !== undefined) buckets.bytes?.assign(levels.bytes);
  }

  /** Forgets `key` (for example when its connection closes). */
  forget(scope: RateLimitScope, key: string): void {
    this.#config(scope);
    this.#buckets[scope].delete(key);
  }

  /** How many keys `scope` remembers. */
  size(scope: RateLimitScope): number {
    this.#config(scope);
    return this.#buckets[scope].size;
  }
}

/** The close code for a client that keeps exceeding its limits (4001, may reconnect later). */
export const RATE_LIMIT_DISCONNECT_CODE: number = DisconnectCode.RATE_LIMITED;

/** Options of {@link ViolationTracker}. */
export interface ViolationPolicyOptions {
  /** More denials than this within `windowMs` → disconnect. @default 10 */
  readonly maxViolations?: number;
  /** @default 10000 */
  readonly windowMs?: number;
  /** Most keys remembered; least recently used forgotten first. @default 100000 */
  readonly maxKeys?: number;
  /** The clock, in ms. @default performance.now */
  readonly now?: Clock;
}

/**
 * What to do about a denied command:
 * - `notify`: the first denial after a quiet window: push `rate_limited {retryAfterMs}` and refuse the command;
 * - `deny`: already notified: refuse the command (its reply carries `rate_limited` and `retryAfterMs`);
 * - `disconnect`: more than `maxViolations` denials within `windowMs`: close with
 *   {@link RATE_LIMIT_DISCONNECT_CODE} and advise a reconnect after a delay.
 */
export type ViolationVerdict = 'notify' | 'deny' | 'disconnect';

/**
 * Escalation for rate-limit denials, per key (normally the connection id). A well-behaved client that backs
 * off after `rate_limited` never reaches the threshold; one that keeps sending does within `windowMs`.
 *
 * @example
 * ```ts
 * const verdict = tracker.record(clientId);
 * if (verdict === 'disconnect') session.disconnect(RATE_LIMIT_DISCONNECT_CODE, 'rate limited');
 * ```
 */
export class ViolationTracker {
  readonly maxViolations: number;
  readonly windowMs: number;
  readonly #maxKeys: number;
  readonly #now: Clock;
  /** Per key: times of the recent denials, oldest first, at most maxViolations + 1 of them. */
  readonly #recent = new Map<string, number[]>();

  constructor(options: ViolationPolicyOptions = {}) {
    const { maxViolations = 10, windowMs = 10_000, maxKeys = DEFAULT_MAX_KEYS, now = monotonic } = options;
    if (!Number.isInteger(maxViolations) || maxViolations < 1 || maxViolations > 10_000) throw new RangeError('maxViolations must be an integer from 1 to 10000');
    if (typeof windowMs !== 'number' || !Number.isFinite(windowMs) || windowMs <= 0) throw new RangeError('windowMs must be a finite number > 0');
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be an integer ≥ 1');
    if (typeof now !== 'function') throw new TypeError('now must be a function');
    this.maxViolations = maxViolations;
    this.windowMs = windowMs;
    this.#maxKeys = maxKeys;
    this.#now = now;
  }

  /** Records one denial for `key` and says what to do. */
  record(key: string): ViolationVerdict {
    const t = this.#now();
    let times = this.#recent.get(key);
    if (times !== undefined) {
      this.#recent.delete(key);
      let stale = 0;
      while (stale < times.length && times[stale]! <= t - this.windowMs) stale++;
      if (stale > 0) times.splice(0, stale);
    } else {
      times = [];
      if (this.#recent.size >= this.#maxKeys) this.#recent.delete(this.#recent.keys().next().value!);
    }
    times.push(t);
    if (times.length > this.maxViolations + 1) times.shift();
    this.#recent.set(key, times);
    if (times.length > this.maxViolations) return 'disconnect';
    return times.length === 1 ? 'notify' : 'deny';
  }

  /** Forgets `key` (for example when its connection closes). */
  forget(key: string): void {
    this.#recent.delete(key);
  }

  /** How many keys are remembered. */
  get size(): number {
    return this.#recent.size;
  }
}
