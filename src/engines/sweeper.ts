/**
 * The periodic clean-up timer shared by the engines: started on demand, unref'd so it never keeps the process
 * alive, stopped by `close()`.
 *
 * @module
 */

/** The timer functions an engine uses; injectable so tests can see the timer start and stop. */
export interface Timers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** Node's global timers. */
export const systemTimers: Timers = {
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

/** Runs `sweep` every `intervalMs` while started. */
export class Sweeper {
  #handle: unknown = undefined;
  readonly #sweep: () => void;
  readonly #intervalMs: number;
  readonly #timers: Timers;

  constructor(sweep: () => void, intervalMs: number, timers: Timers) {
    this.#sweep = sweep;
    this.#intervalMs = intervalMs;
    this.#timers = timers;
  }

  /** Whether the timer is running. */
  get running(): boolean {
    return this.#handle !== undefined;
  }

  /** Starts the timer unless it runs already. */
  start(): void {
    if (this.#handle !== undefined) return;
    const handle = this.#timers.setInterval(() => this.#sweep(), this.#intervalMs);
    (handle as { unref?: () => void } | null)?.unref?.();
    this.#handle = handle;
  }

  /** Stops the timer (idempotent). */
  stop(): void {
    if (this.#handle === undefined) return;
    this.#timers.clearInterval(this.#handle);
    this.#handle = undefined;
  }
}
