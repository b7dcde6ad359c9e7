/**
 * One shared timer that pings idle connections and terminates those whose pong does not come back in time,
 * instead of a timer per connection.
 *
 * @module
 */

import { invalidArgument } from '../protocol/errors.js';

/** A connection the heartbeat can watch. */
export interface HeartbeatMember {
  /** Monotonic ms timestamp of the last inbound byte (set by the connection). */
  lastSeen: number;
  /** When our unanswered ping was sent, or 0. */
  pingSentAt: number;
  /** Sends a heartbeat ping. */
  heartbeatPing(): void;
  /** Drops the connection: the peer missed its pong deadline. */
  heartbeatTimeout(): void;
}

/** Options of a {@link Heartbeat}. */
export interface HeartbeatOptions {
  /**
   * Ping a connection that has been silent this long, in ms. 0 turns the heartbeat off.
   * @default 20000
   */
  pingInterval?: number;
  /**
   * Terminate a connection whose pong has not come this long after the ping, in ms.
   * @default 20000
   */
  pongTimeout?: number;
}

/** Default ping interval (as python-websockets; Socket.IO uses 25 s). */
export const DEFAULT_PING_INTERVAL = 20_000;
/** Default pong deadline. */
export const DEFAULT_PONG_TIMEOUT = 20_000;

/** Watches many connections with one interval timer. */
export class Heartbeat {
  readonly pingInterval: number;
  readonly pongTimeout: number;
  private readonly members = new Set<HeartbeatMember>();
  private timer: NodeJS.Timeout | null = null;

  constructor(options: HeartbeatOptions = {}) {
    this.pingInterval = nonNegative('pingInterval', options.pingInterval, DEFAULT_PING_INTERVAL);
    this.pongTimeout = nonNegative('pongTimeout', options.pongTimeout, DEFAULT_PONG_TIMEOUT);
    if (this.pingInterval > 0 && this.pongTimeout === 0) invalidArgument('pongTimeout must be positive when pingInterval is set');
  }

  /** Whether pings are sent at all. */
  get enabled(): boolean {
    return this.pingInterval > 0;
  }

  /** Starts watching `member`. */
  add(member: HeartbeatMember): void {
    if (!this.enabled) return;
    this.members.add(member);
    if (this.timer === null) {
      // The sweep resolution is a quarter of the shorter period: a deadline is missed by at most that much.
      const resolution = Math.max(10, Math.floor(Math.min(this.pingInterval, this.pongTimeout) / 4));
      this.timer = setInterval(() => this.sweep(), resolution);
      this.timer.unref();
    }
  }

  /** Stops watching `member`; the timer stops with the last member. */
  delete(member: HeartbeatMember): void {
    this.members.delete(member);
    if (this.members.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Number of watched connections. */
  get size(): number {
    return this.members.size;
  }

  private sweep(): void {
    const now = performance.now();
    for (const member of this.members) {
      if (member.pingSentAt !== 0) {
        if (now - member.pingSentAt >= this.pongTimeout) member.heartbeatTimeout();
      } else if (now - member.lastSeen >= this.pingInterval) {
        member.pingSentAt = now;
        member.heartbeatPing();
      }
    }
  }
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) invalidArgument(`${name} must be a non-negative number of ms`);
  return value;
}
