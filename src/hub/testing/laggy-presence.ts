/**
 * A {@link PresenceStore} decorator whose `add` reaches the store only after a delay, like a store across a
 * network: it lets a test end a session while its presence join is still on the way.
 *
 * @example
 * ```ts
 * const presence = new LaggyPresenceStore(new MemoryPresenceStore(), { addDelayMs: 30 });
 * ```
 *
 * @module
 */

import type { ClientInfo, PresenceStats, PresenceStore } from '../engine.js';

/** Delays `add`; every other call goes straight through. */
export class LaggyPresenceStore implements PresenceStore {
  readonly inner: PresenceStore;
  private readonly addDelayMs: number;

  constructor(inner: PresenceStore, options: { addDelayMs?: number } = {}) {
    this.inner = inner;
    this.addDelayMs = options.addDelayMs ?? 20;
  }

  async add(channel: string, info: ClientInfo, ttlMs: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.addDelayMs));
    return this.inner.add(channel, info, ttlMs);
  }

  remove(channel: string, clientId: string): Promise<void> {
    return this.inner.remove(channel, clientId);
  }

  members(channel: string): Promise<ReadonlyMap<string, ClientInfo>> {
    return this.inner.members(channel);
  }

  stats(channel: string): Promise<PresenceStats> {
    return this.inner.stats(channel);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
