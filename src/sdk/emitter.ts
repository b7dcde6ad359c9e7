/**
 * A small typed event emitter for browsers and Node (no `node:events`). A listener that throws does not
 * disturb the SDK: the error is rethrown on a fresh task, where the platform reports it.
 *
 * @module
 */

/** A listener of event payload `T`. */
export type Listener<T> = (payload: T) => void;

/**
 * Typed events: `Events` maps each event name to its payload type.
 *
 * @example
 * ```ts
 * const events = new Emitter<{ tick: { n: number } }>();
 * const off = events.on('tick', ({ n }) => console.log(n));
 * events.emit('tick', { n: 1 });
 * off();
 * ```
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** Removes a listener. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Number of listeners of `event`. */
  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /** @internal Calls every listener of `event` with `payload`, in the order they were added. */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        // The application's bug: report it where the platform reports uncaught errors, without breaking us.
        setTimeout(() => {
          throw error;
        }, 0);
      }
    }
  }
}
