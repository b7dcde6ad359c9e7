/**
 * Test harness shared by the http/, server/ and cli/serve tests: a Volley server on 127.0.0.1 and a free port
 * with a temporary data directory, a small HTTP client that can stream bodies, and a hub protocol client over
 * our own WebSocket. A `.test` file so that it stays out of the package and may use test-support/; it has no
 * tests of its own (create.test.ts checks it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from '../socket/index.js';
import { httpRequest, type HttpAnswer } from '../test-support/http-testing.js';
import { within } from '../test-support/util.js';
import { loadConfig, type ConfigFlags } from './config.js';
import { createVolleyServer, type ListenAddress, type VolleyServer, type VolleyServerOptions } from './create.js';

/** A running test server. */
export interface TestServer {
  readonly server: VolleyServer;
  readonly address: ListenAddress;
  readonly url: string;
  readonly wsUrl: string;
  readonly dataDir: string;
  /** Drains (briefly), closes, and removes the data directory. */
  stop(): Promise<void>;
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'volley-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Starts a server with `config` as its config file (JSON) and `flags` on top; `options` go to
 * {@link createVolleyServer} (hooks, say). Defaults: 127.0.0.1, port 0, logs silent, API key `test-key`, memory
 * history.
 */
export async function startTestServer(config: Record<string, unknown> = {}, flags: ConfigFlags = {}, options: VolleyServerOptions = {}): Promise<TestServer> {
  const dataDir = tempDir();
  const file = join(dataDir, 'volley.config.json');
  writeFileSync(file, JSON.stringify({ logLevel: 'silent', apiKey: 'test-key', history: 'memory', ...config }));
  const { config: resolved } = await loadConfig({
    flags: { port: '0', host: '127.0.0.1', 'data-dir': dataDir, config: file, ...flags },
    env: {},
    cwd: dataDir,
  });
  const server = await createVolleyServer(resolved, options);
  const address = await server.listen();
  return {
    server,
    address,
    url: address.url,
    wsUrl: address.wsUrl,
    dataDir,
    async stop() {
      await within(server.shutdown({ drainMs: 500 }), 5000, 'the server to shut down');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An HTTP response, body read whole. */
export type TestResponse = HttpAnswer;

/** Options of {@link http}. */
export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** A string or bytes (sent with Content-Length), or an object (sent as JSON). */
  readonly body?: string | Buffer | object;
  /** `Authorization: apikey KEY`. @default 'test-key' (null: no header) */
  readonly apiKey?: string | null;
}

/** One HTTP request on a fresh connection (no keep-alive), bounded to 5 s. */
export function http(url: string, options: RequestOptions = {}): Promise<TestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  const apiKey = options.apiKey === undefined ? 'test-key' : options.apiKey;
  if (apiKey !== null) headers.authorization = `apikey ${apiKey}`;
  return httpRequest(url, { method: options.method, headers, body: options.body });
}

/** A hub protocol client (JSON encoding) for tests. */
export class HubClient {
  readonly ws: WebSocket;
  /** Pushes received (messages without an id), in order. */
  readonly pushes: any[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: any) => void>();
  private readonly pushWaiters: Array<{ match: (push: any) => boolean; resolve: (push: any) => void }> = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('error', () => {});
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8'));
      if (typeof message.id === 'number') {
        this.waiting.get(message.id)?.(message);
        this.waiting.delete(message.id);
        return;
      }
      this.pushes.push(message);
      for (const waiter of [...this.pushWaiters]) {
        if (waiter.match(message)) {
          this.pushWaiters.splice(this.pushWaiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    });
    this.closed = new Promise((resolve) => ws.on('close', (code: number, reason: Buffer | string) => resolve({ code, reason: String(reason) })));
  }

  /** Opens a connection with subprotocol `volley.v1.json` (not yet sending `connect`). */
  static open(wsUrl: string, options: { origin?: string } = {}): Promise<HubClient> {
    const ws = new WebSocket(wsUrl, 'volley.v1.json', { perMessageDeflate: false, ...(options.origin ? { origin: options.origin } : {}) });
    const client = new HubClient(ws);
    return within(
      new Promise<HubClient>((resolve, reject) => {
        ws.once('open', () => resolve(client));
        ws.once('error', reject);
      }),
      3000,
      'the WebSocket to open',
    );
  }

  /** Opens a connection and sends `connect` (anonymous unless `token`). */
  static async connect(wsUrl: string, token?: string): Promise<{ client: HubClient; result: any }> {
    const client = await HubClient.open(wsUrl);
    const reply = await client.command({ type: 'connect', ...(token !== undefined ? { token } : {}) });
    assert.ok(reply.result, `connect failed: ${JSON.stringify(reply)}`);
    return { client, result: reply.result };
  }

  /** Sends a command with the next id and resolves to its reply. */
  command(command: Record<string, unknown>): Promise<any> {
    const id = this.nextId++;
    const reply = new Promise<any>((resolve) => this.waiting.set(id, resolve));
    this.ws.send(JSON.stringify({ id, ...command }));
    return within(reply, 3000, `the reply to ${String(command.type)}`);
  }

  /** The next push (already received or future) that `match` accepts. */
  nextPush(match: (push: any) => boolean, ms = 3000): Promise<any> {
    const seen = this.pushes.find(match);
    if (seen !== undefined) {
      this.pushes.splice(this.pushes.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return within(new Promise((resolve) => this.pushWaiters.push({ match, resolve })), ms, 'a push');
  }

  /** Closes and waits for the close to complete. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    await within(this.closed, 3000, 'the WebSocket to close').catch(() => this.ws.terminate());
  }
}
