/**
 * A hub on a real socket for integration tests: memory engines by default (or the stores given), a
 * {@link WebSocketTransport}, and a `node:http` server on 127.0.0.1 and an ephemeral port that upgrades `/ws`
 * and refuses every other path. `close()` releases everything it created, and only that.
 *
 * @example
 * ```ts
 * const started = await startHub({ allowAnonymous: true, namespaces: { default: { subscribe: 'anyone' } } });
 * after(() => started.close());
 * const client = await HubClient.open(started.url);
 * ```
 *
 * @module
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MemoryBroker, MemoryHistoryStore, MemoryPresenceStore } from '../../engines/index.js';
import { WebSocketTransport, type WebSocketTransportOptions } from '../../transports/websocket.js';
import type { Broker, HistoryStore, PresenceStore } from '../engine.js';
import { Hub, type HubOptions } from '../hub.js';

/** Options of {@link startHub}: the hub's own, with every engine optional, and the transport's. */
export interface StartHubOptions extends Omit<HubOptions, 'broker' | 'history' | 'presence'> {
  /** @default a new MemoryBroker, closed by `close()` */
  broker?: Broker;
  /** @default a new MemoryHistoryStore, closed by `close()`. A store passed in is left open. */
  history?: HistoryStore;
  /** @default a new MemoryPresenceStore, closed by `close()` */
  presence?: PresenceStore;
  /** @default { heartbeat: false } */
  transport?: WebSocketTransportOptions;
}

/** What {@link startHub} returns. */
export interface StartedHub {
  readonly hub: Hub;
  readonly transport: WebSocketTransport;
  readonly server: Server;
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  readonly port: number;
  /** `ws://127.0.0.1:<port>/ws` */
  readonly url: string;
  /** Stops the hub, closes every socket and the HTTP server, and closes the engines it created. Idempotent. */
  close(): Promise<void>;
}

/** Starts a hub as described in the module comment. */
export async function startHub(options: StartHubOptions = {}): Promise<StartedHub> {
  const { broker: givenBroker, history: givenHistory, presence: givenPresence, transport: transportOptions, ...hubOptions } = options;
  const owned: Array<{ close(): Promise<void> }> = [];
  const broker = givenBroker ?? own(new MemoryBroker());
  const history = givenHistory ?? own(new MemoryHistoryStore());
  const presence = givenPresence ?? own(new MemoryPresenceStore());
  function own<T extends { close(): Promise<void> }>(engine: T): T {
    owned.push(engine);
    return engine;
  }

  const hub = new Hub({ ...hubOptions, broker, history, presence });
  const transport = new WebSocketTransport(hub, { heartbeat: false, ...transportOptions });
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/ws') transport.handleUpgrade(req, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      hub.close();
      // Clients that stopped reading never answer the close frame: do not wait for them for long.
      await Promise.race([transport.close(), new Promise((resolve) => setTimeout(resolve, 500))]);
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await serverClosed;
      for (const engine of owned) await engine.close();
    })());

  return { hub, transport, server, history, presence, port, url: `ws://127.0.0.1:${port}/ws`, close };
}
