/**
 * A free TCP port for tests that start a process of their own (nginx, redis-server) which must be told its port.
 *
 * @module
 */

import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (bound and closed again at once; bind it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
