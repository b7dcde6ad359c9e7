/**
 * Helpers shared by the contract suites: waiting in real time, and moving a harness's clock whether it is fake
 * or real.
 *
 * @module
 */

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** A harness whose clock can be moved: `now(ms)` advances a fake clock; without it, time passes for real. */
export interface Clocked {
  readonly now?: (ms: number) => void;
}

/**
 * The time unit of timing tests: long with a fake clock (so nothing expires by accident), short with a real one
 * (so the suite stays fast against engines such as Redis that expire on their own clock).
 */
export function timeUnit(harness: Clocked): number {
  return harness.now === undefined ? 400 : 10_000;
}

/** Lets `ms` pass on the harness's clock. */
export async function elapse(harness: Clocked, ms: number): Promise<void> {
  if (harness.now !== undefined) harness.now(ms);
  else await sleep(ms);
}

/** Waits until `condition()` holds, polling, or fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** Channel names unique to one test, so suites can share a backend (a Redis database) between tests. */
let counter = 0;
export function uniqueChannel(prefix = 'test'): string {
  counter += 1;
  return `${prefix}:${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** Matches an engine error by its stable code. */
export function code(expected: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, expected, `expected ${expected}, got ${String(error)}`);
    return true;
  };
}

/** `[from, from + 1, …, to]`. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** A fake clock: `now` for the engine's `now` option, `advance` for the harness. */
export function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => void (time += ms) };
}

/** Timer functions that record what an engine does with its sweep timer (no callback ever runs by itself). */
export function recordingTimers() {
  const log: string[] = [];
  const callbacks = new Map<number, () => void>();
  let next = 0;
  return {
    log,
    /** Number of timers started and not cleared. */
    get active(): number {
      return callbacks.size;
    },
    /** Runs every active timer's callback once, as if its interval elapsed. */
    tick(): void {
      for (const callback of [...callbacks.values()]) callback();
    },
    setInterval(callback: () => void, ms: number): unknown {
      const id = ++next;
      callbacks.set(id, callback);
      log.push(`start ${ms}`);
      return { id, unref: () => log.push('unref') };
    },
    clearInterval(handle: unknown): void {
      callbacks.delete((handle as { id: number }).id);
      log.push('stop');
    },
  };
}
