/**
 * A {@link HistoryStore} decorator that answers every call after a random delay, like a store across a network.
 * The in-process stores answer at once, and then nothing can happen between a subscriber's registration and
 * its history read; with this one, publications do arrive while a recovery reads history, which is the seam
 * recovery tests must cross.
 *
 * @example
 * ```ts
 * const history = new LaggyHistoryStore(new MemoryHistoryStore(), { maxDelayMs: 3 });
 * ```
 *
 * @module
 */

import type { AppendResult, HistoryPage, HistoryQuery, HistoryStore, StreamPosition } from '../engine.js';

/** Options of {@link LaggyHistoryStore}. */
export interface LaggyHistoryOptions {
  /** Each call waits a random whole number of ms from 0 to this. @default 2 */
  maxDelayMs?: number;
  /** The random source. @default Math.random */
  random?: () => number;
}

/** Delays every call of the wrapped store; the wrapped store still decides the order of appends. */
export class LaggyHistoryStore implements HistoryStore {
  readonly inner: HistoryStore;
  private readonly maxDelayMs: number;
  private readonly random: () => number;

  constructor(inner: HistoryStore, options: LaggyHistoryOptions = {}) {
    this.inner = inner;
    this.maxDelayMs = options.maxDelayMs ?? 2;
    this.random = options.random ?? Math.random;
  }

  private lag(): Promise<void> {
    const ms = Math.floor(this.random() * (this.maxDelayMs + 1));
    return new Promise((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));
  }

  async append(...args: Parameters<HistoryStore['append']>): Promise<AppendResult> {
    // The offset is assigned when the call reaches the store; the answer comes back later.
    const result = await this.inner.append(...args);
    await this.lag();
    return result;
  }

  async read(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    await this.lag();
    return this.inner.read(channel, query);
  }

  async position(channel: string): Promise<StreamPosition> {
    await this.lag();
    return this.inner.position(channel);
  }

  remove(channel: string): Promise<void> {
    return this.inner.remove(channel);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
