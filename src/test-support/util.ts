/**
 * Small helpers shared by the socket tests: bounded waits, a cleanup stack, and a Volley server on an
 * ephemeral port of 127.0.0.1.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocketServerOptions } from '../socket/index.js';

/** Rejects with a message naming `what` when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** The arguments of the next `event` emitted by `emitter`, within `ms`. */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 2000): Promise<T> {
  return within(
    new Promise<T>((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T))),
    ms,
    `'${event}'`,
  );
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

/** Runs registered cleanups in reverse order; call `run()` from `afterEach`. */
export class Cleanup {
  private readonly tasks: Array<() => unknown> = [];
  add(task: () => unknown): void {
    this.tasks.push(task);
  }
  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.tasks.length > 0) {
      try {
        await within(Promise.resolve(this.tasks.pop()!()), 5000, 'a cleanup task');
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** Servers that already emitted 'close' (closing them again is then a no-op for the helpers). */
const closedServers = new WeakSet<WebSocketServer>();

/** Remembers when `wss` closes, so that {@link stopServer} does not close it twice. */
export function trackClose(wss: WebSocketServer): WebSocketServer {
  wss.once('close', () => closedServers.add(wss));
  return wss;
}

/** Starts a standalone Volley server on 127.0.0.1 and an ephemeral port. */
export async function startServer(options: Omit<WebSocketServerOptions, 'port'> = {}): Promise<{ wss: WebSocketServer; port: number; url: string }> {
  const wss = await new Promise<WebSocketServer>((resolve) => {
    const server: WebSocketServer = new WebSocketServer({ heartbeat: false, ...options, port: 0, host: '127.0.0.1' }, () => resolve(server));
  });
  trackClose(wss);
  const sockets = new Set<Socket>();
  wss.server!.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  serverSockets.set(wss, sockets);
  const port = (wss.address() as AddressInfo).port;
  return { wss, port, url: `ws://127.0.0.1:${port}` };
}

/** TCP sockets accepted by each standalone server started here. */
const serverSockets = new WeakMap<WebSocketServer, Set<Socket>>();

/**
 * Closes a Volley server, first terminating its clients so that no close timeout holds it open. With `force`,
 * also destroys every TCP socket the server accepted, for tests that document a bug leaving one open (a
 * leak that would otherwise keep `close()` from calling back).
 */
export function stopServer(wss: WebSocketServer, options: { force?: boolean } = {}): Promise<void> {
  if (closedServers.has(wss)) return Promise.resolve();
  for (const ws of wss.clients) ws.terminate();
  if (options.force) for (const socket of serverSockets.get(wss) ?? []) socket.destroy();
  return within(new Promise<void>((resolve) => wss.close(() => resolve())), 5000, 'the server to close');
}

/** Makes every connection of `wss` echo what it receives, text as text and binary as binary. */
export function echo(wss: WebSocketServer): void {
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
}

/** `n` bytes of valid UTF-8 text (ASCII with some two- and three-byte characters), as a string. */
export function textOfBytes(n: number): string {
  const unit = 'Volley é€ ';
  const unitBytes = Buffer.byteLength(unit);
  let out = unit.repeat(Math.floor(n / unitBytes));
  out += 'x'.repeat(n - Buffer.byteLength(out));
  return out;
}
