/**
 * The hubs and clients of one integration test file, ended after its last test, followed by the process check
 * G0 (nothing escaped, no handle left behind; see process-guard.ts).
 *
 * @example
 * ```ts
 * const scope = hubScope({ allowAnonymous: true });
 * const started = await scope.hub();
 * const client = await scope.open(started);
 * ```
 *
 * @module
 */

import { after } from 'node:test';
import { guardProcess } from '../../test-support/process-guard.js';
import { HubClient, type HubClientOptions } from './hub-client.js';
import { startHub, type StartedHub, type StartHubOptions } from './start-hub.js';

/** What {@link hubScope} returns. */
export interface HubScope {
  /** Starts a hub with the scope's defaults under `options` (a shallow merge). */
  hub(options?: StartHubOptions): Promise<StartedHub>;
  /** Opens a client to `started` (without sending `connect`). */
  open(started: StartedHub, options?: HubClientOptions): Promise<HubClient>;
  /**
   * Runs `task` at the end, once the clients and hubs are closed and before the process check (for stores and
   * directories a test file made itself).
   */
  release(task: () => unknown): void;
}

/**
 * Starts the scope of a test file; call it once, at the top level, before anything is opened: it takes the
 * process guard's baseline and registers the `after` hook that closes the clients, then the hubs, then runs the
 * released tasks, and asserts that the process is clean.
 */
export function hubScope(defaults: StartHubOptions = {}): HubScope {
  const guard = guardProcess();
  const hubs: StartedHub[] = [];
  const clients: HubClient[] = [];
  const tasks: Array<() => unknown> = [];
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await Promise.all(hubs.map((started) => started.close()));
    for (const task of tasks) await task();
    await guard.assertClean();
  });
  return {
    async hub(options = {}) {
      const started = await startHub({ ...defaults, ...options });
      hubs.push(started);
      return started;
    },
    async open(started, options = {}) {
      const client = await HubClient.open(started.url, options);
      clients.push(client);
      return client;
    },
    release(task) {
      tasks.push(task);
    },
  };
}
