/**
 * {@link MemoryPresenceStore}: who is in each channel, for one node. Entries expire `ttlMs` after they were last
 * added unless refreshed; expired entries are dropped whenever their channel is read and by a sweep timer.
 *
 * Presence info is stored as JSON text, as a shared store would, so only JSON values are accepted and a member's
 * info cannot change after it was added.
 *
 * @example
 * ```ts
 * const presence = new MemoryPresenceStore();
 * await presence.add('chat:lobby', { clientId: 'c1', userId: 'alice' }, 60_000);
 * await presence.stats('chat:lobby');  // { clients: 1, users: 1 }
 * ```
 *
 * @module
 */

import type { ClientInfo, PresenceStats, PresenceStore } from '../hub/engine.js';
import { checkDuration, checkString, closedError, invalidArgument } from './errors.js';
import { DEFAULT_SWEEP_INTERVAL_MS } from './history-args.js';
import { decodeJson, encodeJson } from './json.js';
import { Sweeper, systemTimers, type Timers } from './sweeper.js';

/** Options of {@link MemoryPresenceStore}. */
export interface MemoryPresenceStoreOptions {
  /**
   * The clock, in ms; entries expire by it.
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * Period of the clean-up timer that drops expired entries of channels nobody reads. Unref'd, started with the
   * first entry, stopped when none is left and by `close()`.
   * @default 10_000
   */
  readonly sweepIntervalMs?: number;
  /**
   * Timer functions, for tests that check the sweep timer starts and stops.
   * @default the global setInterval / clearInterval
   */
  readonly timers?: Timers;
}

interface Member {
  readonly userId: string;
  /** The info as JSON text. */
  readonly info: string;
  readonly expiresAt: number;
}

const State = { OPEN: 'open', CLOSED: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/** The in-process presence store. */
export class MemoryPresenceStore implements PresenceStore {
  #state: State = State.OPEN;
  readonly #channels = new Map<string, Map<string, Member>>();
  readonly #now: () => number;
  readonly #sweeper: Sweeper;

  /** @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for an option of the wrong type or out of range. */
  constructor(options: MemoryPresenceStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    if (typeof this.#now !== 'function') invalidArgument('now must be a function');
    const interval = options.sweepIntervalMs === undefined ? DEFAULT_SWEEP_INTERVAL_MS : checkDuration('sweepIntervalMs', options.sweepIntervalMs);
    this.#sweeper = new Sweeper(() => this.sweep(), interval, options.timers ?? systemTimers);
  }

  /** Number of channels with at least one entry (expired ones included until swept). */
  get channels(): number {
    return this.#channels.size;
  }

  /**
   * Adds or refreshes a member until `ttlMs` from now.
   *
   * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad argument, `VOLLEY_ERR_NOT_JSON` when `info` is not
   * a JSON value.
   */
  async add(channel: string, info: ClientInfo, ttlMs: number): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    if (typeof info !== 'object' || info === null) invalidArgument('info must be an object');
    checkString('info.clientId', info.clientId);
    checkString('info.userId', info.userId);
    checkDuration('ttlMs', ttlMs);
    const member: Member = { userId: info.userId, info: encodeJson(info, 'info'), expiresAt: this.#now() + ttlMs };
    let members = this.#channels.get(channel);
    if (members === undefined) this.#channels.set(channel, (members = new Map()));
    members.set(info.clientId, member);
    this.#sweeper.start();
  }

  async remove(channel: string, clientId: string): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    checkString('clientId', clientId);
    const members = this.#channels.get(channel);
    if (members === undefined) return;
    members.delete(clientId);
    if (members.size === 0) this.#channels.delete(channel);
  }

  async members(channel: string): Promise<ReadonlyMap<string, ClientInfo>> {
    this.#assertOpen();
    checkString('channel', channel);
    const result = new Map<string, ClientInfo>();
    for (const [clientId, member] of this.#live(channel)) result.set(clientId, decodeJson(member.info) as ClientInfo);
    return result;
  }

  async stats(channel: string): Promise<PresenceStats> {
    this.#assertOpen();
    checkString('channel', channel);
    const members = this.#live(channel);
    const users = new Set<string>();
    for (const member of members.values()) users.add(member.userId);
    return { clients: members.size, users: users.size };
  }

  /** Forgets every entry and stops the sweep timer. Idempotent; every later call rejects `VOLLEY_ERR_INVALID_STATE`. */
  async close(): Promise<void> {
    if (this.#state === State.CLOSED) return;
    this.#state = State.CLOSED;
    this.#sweeper.stop();
    this.#channels.clear();
  }

  /** Drops expired entries of every channel now; the sweep timer calls this every `sweepIntervalMs`. */
  sweep(): void {
    if (this.#state !== State.OPEN) return;
    for (const channel of [...this.#channels.keys()]) this.#live(channel);
    if (this.#channels.size === 0) this.#sweeper.stop();
  }

  #assertOpen(): void {
    if (this.#state !== State.OPEN) closedError('MemoryPresenceStore');
  }

  /** The channel's members after dropping expired ones (an empty map for an unknown channel). */
  #live(channel: string): ReadonlyMap<string, Member> {
    const members = this.#channels.get(channel);
    if (members === undefined) return new Map();
    const now = this.#now();
    for (const [clientId, member] of members) if (now >= member.expiresAt) members.delete(clientId);
    if (members.size === 0) this.#channels.delete(channel);
    return members;
  }
}
