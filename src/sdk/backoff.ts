/**
 * Reconnect delays: exponential growth with full jitter, capped (realtime-features.md §4.11, reliability R5).
 *
 * @module
 */

/** Reconnect timing. Every field documents its default. */
export interface ReconnectOptions {
  /** The smallest delay, and the base of the exponential. @default 250 */
  readonly minDelayMs?: number;
  /** No delay is longer than this. @default 15000 */
  readonly maxDelayMs?: number;
}

/**
 * Defaults of {@link ReconnectOptions}.
 *
 * @example
 * ```ts
 * new Volley(url, { reconnect: { ...DEFAULT_RECONNECT, maxDelayMs: 30_000 } });
 * ```
 */
export const DEFAULT_RECONNECT: Required<ReconnectOptions> = Object.freeze({ minDelayMs: 250, maxDelayMs: 15_000 });

/**
 * The delay before reconnect attempt `attempt` (0 for the first): drawn uniformly from
 * `[minDelayMs, minDelayMs + min(maxDelayMs, minDelayMs · 2^attempt)]` and capped at `maxDelayMs`.
 * The whole window is random ("full jitter"), so a crowd of clients dropped at once spreads out.
 *
 * @param random a function returning a number in [0, 1), like `Math.random`.
 * @example
 * ```ts
 * backoffDelay(0, { minDelayMs: 250, maxDelayMs: 15000 }, Math.random); // 250 … 500
 * backoffDelay(6, { minDelayMs: 250, maxDelayMs: 15000 }, Math.random); // 250 … 15000
 * ```
 */
export function backoffDelay(attempt: number, options: Required<ReconnectOptions>, random: () => number): number {
  const { minDelayMs, maxDelayMs } = options;
  const window = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(Math.max(0, attempt), 32));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.min(maxDelayMs, Math.floor(minDelayMs + r * window));
}

/**
 * The bounds {@link backoffDelay} draws from, for `attempt`.
 *
 * @example
 * ```ts
 * backoffBounds(2, DEFAULT_RECONNECT); // { min: 250, max: 1250 }
 * ```
 */
export function backoffBounds(attempt: number, options: Required<ReconnectOptions>): { min: number; max: number } {
  const { minDelayMs, maxDelayMs } = options;
  const window = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(Math.max(0, attempt), 32));
  return { min: Math.min(minDelayMs, maxDelayMs), max: Math.min(maxDelayMs, minDelayMs + window) };
}
