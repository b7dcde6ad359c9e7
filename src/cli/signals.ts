/**
 * SIGINT / SIGTERM handling shared by long-running commands: the first signal asks for a graceful stop, a
 * second one for an immediate stop.
 *
 * @module
 */

/** What to do on the first and on any later shutdown signal. */
export interface ShutdownHandlers {
  first(signal: NodeJS.Signals): void;
  second(signal: NodeJS.Signals): void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Routes SIGINT and SIGTERM to `handlers` (which replaces Node's default of exiting at once). Returns a
 * function that removes the listeners again; call it when the command is done.
 */
export function onShutdownSignal(handlers: ShutdownHandlers): () => void {
  let count = 0;
  const listener = (signal: NodeJS.Signals): void => {
    count++;
    if (count === 1) handlers.first(signal);
    else handlers.second(signal);
  };
  for (const signal of SIGNALS) process.on(signal, listener);
  return () => {
    for (const signal of SIGNALS) process.removeListener(signal, listener);
  };
}
