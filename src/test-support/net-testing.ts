/**
 * Free TCP ports for tests that start a process of their own (nginx, redis-server) which must be told its port.
 *
 * @module
 */

import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (bound and closed again at once; bind it right after). */
export function freePort(): Promise<number> {
  return bindAndClose(0);
}

/** Whether `port` on 127.0.0.1 could be bound a moment ago (bound and closed again at once). */
export function portIsFree(port: number): Promise<boolean> {
  return bindAndClose(port).then(() => true, () => false);
}

/** Binds `port` (0: any) on 127.0.0.1, closes it again and resolves with the port bound. */
function bindAndClose(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}
