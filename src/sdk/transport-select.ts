/**
 * Which transport to try, in which order (no I/O). Each connection round tries every available transport
 * once, starting with the preferred one and wrapping around: a transport that cannot open hands over to the
 * next at once. The preferred transport is the last one that connected; one that twice in a row closes
 * soon after opening, without the hub saying why (a proxy killing WebSockets), loses that place to the next.
 *
 * @module
 */

import type { TransportKind } from './transport.js';

/** Consecutive short-lived connections after which a transport is passed over. */
export const SHORT_LIVED_STRIKES = 2;

/**
 * @example
 * ```ts
 * const select = new TransportSelector(['websocket', 'sse', 'polling'], 3000);
 * select.round();                     // ['websocket', 'sse', 'polling']
 * select.closed('websocket', 200, false);
 * select.closed('websocket', 150, false);
 * select.round();                     // ['sse', 'polling', 'websocket']
 * ```
 */
export class TransportSelector {
  readonly kinds: readonly TransportKind[];
  readonly #shortLivedMs: number;
  #preferred = 0;
  readonly #strikes = new Map<TransportKind, number>();

  /** `kinds`: the available transports in the user's order of preference (at least one). */
  constructor(kinds: readonly TransportKind[], shortLivedMs: number) {
    if (kinds.length === 0) throw new RangeError('at least one transport is needed');
    this.kinds = kinds;
    this.#shortLivedMs = shortLivedMs;
  }

  /** The transport a round starts with. */
  get preferred(): TransportKind {
    return this.kinds[this.#preferred]!;
  }

  /** The order of the next connection round. */
  round(): TransportKind[] {
    const n = this.kinds.length;
    return Array.from({ length: n }, (_, i) => this.kinds[(this.#preferred + i) % n]!);
  }

  /** `kind` connected: it becomes the preferred transport. */
  connected(kind: TransportKind): void {
    const index = this.kinds.indexOf(kind);
    if (index !== -1) this.#preferred = index;
  }

  /**
   * A connection over `kind` that had opened ended after `lifetimeMs`. `explained`: the hub said why (a
   * `disconnect` push or a hub close code), which is never the transport's fault. Returns true when `kind`
   * just lost its preferred place.
   */
  closed(kind: TransportKind, lifetimeMs: number, explained: boolean): boolean {
    if (explained || lifetimeMs >= this.#shortLivedMs) {
      this.#strikes.set(kind, 0);
      return false;
    }
    const strikes = (this.#strikes.get(kind) ?? 0) + 1;
    if (strikes < SHORT_LIVED_STRIKES || this.kinds.length === 1) {
      this.#strikes.set(kind, strikes);
      return false;
    }
    this.#strikes.set(kind, 0);
    const index = this.kinds.indexOf(kind);
    if (index === this.#preferred) this.#preferred = (index + 1) % this.kinds.length;
    return true;
  }

  /** Whether `kind` is a fallback, with a more preferred transport worth probing for. */
  isFallback(kind: TransportKind): boolean {
    return this.kinds.indexOf(kind) > 0;
  }
}
