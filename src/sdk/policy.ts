/**
 * Small decisions of the reconnect logic, kept pure so that they are tested alone: whether a close code
 * allows a reconnect, and when to refresh a token.
 *
 * @module
 */

/**
 * Whether a connection that ended with `code` may be reopened (docs/protocol.md §7): not after 4500-4999
 * (fix something first), nor after the WebSocket codes that mean a client bug, nor when the hub's
 * `disconnect` push said `reconnect: false`.
 *
 * @example
 * ```ts
 * shouldReconnect(4004); // true
 * shouldReconnect(4500); // false
 * ```
 */
export function shouldReconnect(code: number, advice?: boolean): boolean {
  if (advice === false) return false;
  if (code >= 4500 && code <= 4999) return false;
  return !(code === 1002 || code === 1003 || code === 1007 || code === 1008 || code === 1009 || code === 1010);
}

/**
 * When to refresh a token that expires in `remainingMs`: at 85 % of the remaining lifetime, or 10 s
 * before expiry if that is earlier, but never before half of it has passed.
 *
 * @example
 * ```ts
 * tokenRefreshDelay(3_600_000); // 3_060_000 (51 min)
 * tokenRefreshDelay(60_000);    // 50_000
 * ```
 */
export function tokenRefreshDelay(remainingMs: number): number {
  if (!(remainingMs > 0)) return 0;
  return Math.floor(Math.max(remainingMs * 0.5, Math.min(remainingMs * 0.85, remainingMs - 10_000)));
}
