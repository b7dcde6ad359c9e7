/**
 * The global invariant G0 of the reliability bar: nothing a peer does may raise an uncaught exception or an
 * unhandled rejection, and once every connection of a test file is closed, the process holds no more active
 * handles, requests or ref'd timers than before the first test (unref'd timers are not counted by Node).
 *
 * @example
 * ```ts
 * const guard = guardProcess();
 * after(() => guard.assertClean());
 * ```
 *
 * @module
 */

import assert from 'node:assert/strict';

/** Counts of `process.getActiveResourcesInfo()` by resource type. */
function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Resource types held now beyond the baseline, as `type +n`. */
function growth(baseline: Map<string, number>): string[] {
  const extra: string[] = [];
  for (const [type, count] of resourceCounts()) {
    const before = baseline.get(type) ?? 0;
    if (count > before) extra.push(`${type} +${count - before}`);
  }
  return extra;
}

/** What {@link guardProcess} returns. */
export interface ProcessGuard {
  /** Every uncaught exception and unhandled rejection seen so far. */
  readonly failures: unknown[];
  /**
   * Waits (up to `settleMs`) for the active resources to fall back to the baseline, then asserts that they did
   * and that no exception escaped.
   */
  assertClean(settleMs?: number): Promise<void>;
}

/** Records escaped errors from now on and takes the resource baseline. Call it at the top of a test file. */
export function guardProcess(): ProcessGuard {
  const failures: unknown[] = [];
  const baseline = resourceCounts();
  process.on('uncaughtException', (error) => failures.push(error));
  process.on('unhandledRejection', (reason) => failures.push(reason));
  return {
    failures,
    async assertClean(settleMs = 3000): Promise<void> {
      const deadline = performance.now() + settleMs;
      while (growth(baseline).length > 0 && performance.now() < deadline) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        await new Promise<void>((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(failures, [], 'no uncaught exception or unhandled rejection (G0)');
      assert.deepEqual(growth(baseline), [], `active resources back to baseline (G0); now: ${process.getActiveResourcesInfo().join(', ')}`);
    },
  };
}
