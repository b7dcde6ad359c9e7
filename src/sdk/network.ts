/**
 * The browser's `online` and `offline` events (on `window`). Elsewhere (Node, workers without a document)
 * there is nothing to watch.
 *
 * @module
 */

interface NetworkTarget {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * Calls `offline` and `online` as the browser reports them; returns a function that stops watching, or
 * null when this platform has no such events.
 *
 * @example
 * ```ts
 * const stop = watchNetwork({ offline: () => drop(), online: () => retryNow() });
 * stop?.();
 * ```
 */
export function watchNetwork(handlers: { offline(): void; online(): void }): (() => void) | null {
  const target = globalThis as unknown as Partial<NetworkTarget> & { navigator?: unknown; document?: unknown };
  if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') return null;
  if (target.navigator === undefined || typeof target.document !== 'object') return null;
  const window = target as NetworkTarget;
  const offline = (): void => handlers.offline();
  const online = (): void => handlers.online();
  window.addEventListener('offline', offline);
  window.addEventListener('online', online);
  return () => {
    window.removeEventListener('offline', offline);
    window.removeEventListener('online', online);
  };
}
