/**
 * Tests of the HTTP hooks against a backend on 127.0.0.1: the request, each kind of answer, and every way
 * the backend can fail (each an `unavailable` decision, never a throw).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { createHttpHooks, readLimitedBody, type HookDecision, type HookRequest } from './hooks.js';

interface Backend {
  readonly url: string;
  readonly requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  close(): Promise<void>;
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A backend on 127.0.0.1 that records requests and answers with `handle`. */
async function backend(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Backend> {
  const requests: Backend['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handle(req, res, body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function json(value: unknown, status = 200): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
}

const REQUEST: HookRequest = { clientId: 'c-1', userId: 'alice', transport: 'websocket', remoteAddress: '127.0.0.1' };

describe('createHttpHooks', () => {
  it('creates only the hooks whose URL is configured', () => {
    const hooks = createHttpHooks({ subscribeUrl: 'http://127.0.0.1:1/sub' });
    assert.equal(hooks.onConnect, undefined);
    assert.equal(typeof hooks.onSubscribe, 'function');
    assert.equal(hooks.onPublish, undefined);
  });

  it('POSTs the request as JSON with the configured headers', async () => {
    const server = await backend(json({ result: {} }));
    const hooks = createHttpHooks({ subscribeUrl: server.url, headers: { authorization: 'Bearer hub-secret' } });
    const decision = await hooks.onSubscribe!({ ...REQUEST, channel: 'chat:1' });
    assert.deepEqual(decision, { type: 'allow', overrides: {} });
    assert.equal(server.requests.length, 1);
    const [request] = server.requests;
    assert.equal(request!.method, 'POST');
    assert.equal(request!.url, '/hook');
    assert.equal(request!.headers['content-type'], 'application/json');
    assert.equal(request!.headers['authorization'], 'Bearer hub-secret');
    assert.deepEqual(JSON.parse(request!.body), { ...REQUEST, channel: 'chat:1' });
  });

  it('accepts a connect with a new user id, info, expiry and capabilities', async () => {
    const server = await backend(json({ result: { userId: 'bob', info: { name: 'Bob' }, expiresAt: 1_900_000_000_000, channels: { 'chat:*': ['subscribe'] } } }));
    const decision = await createHttpHooks({ connectUrl: server.url }).onConnect!(REQUEST);
    assert.equal(decision.type, 'allow');
    const { overrides } = decision as Extract<HookDecision, { type: 'allow' }>;
    assert.equal(overrides.userId, 'bob');
    assert.deepEqual(overrides.info, { name: 'Bob' });
    assert.equal(overrides.expiresAt, 1_900_000_000_000);
    assert.equal(overrides.capabilities?.allows('chat:1', 'subscribe'), true);
    assert.equal(overrides.capabilities?.allows('chat:1', 'publish'), false);
  });

  it('accepts a publish with transformed data, null included', async () => {
    const server = await backend(json({ result: { data: null } }));
    const decision = await createHttpHooks({ publishUrl: server.url }).onPublish!({ ...REQUEST, channel: 'chat:1', data: { text: 'hi' } });
    assert.deepEqual(decision, { type: 'allow', overrides: { data: null } });
    assert.deepEqual(JSON.parse(server.requests[0]!.body).data, { text: 'hi' });
  });

  it('reads an error answer as a refusal of the command', async () => {
    const server = await backend(json({ error: { code: 403, message: 'not a member' } }));
    const decision = await createHttpHooks({ subscribeUrl: server.url }).onSubscribe!({ ...REQUEST, channel: 'chat:1' });
    assert.deepEqual(decision, { type: 'reject', code: 403, message: 'not a member' });
  });

  it('reads a disconnect answer as a close with that code and reason', async () => {
    const server = await backend(json({ disconnect: { code: 4502, reason: 'banned' } }));
    const decision = await createHttpHooks({ connectUrl: server.url }).onConnect!(REQUEST);
    assert.deepEqual(decision, { type: 'disconnect', code: 4502, reason: 'banned' });
  });

  describe('answers it does not understand are `bad_response`', () => {
    const cases: Array<[string, 'connect' | 'subscribe' | 'publish', unknown]> = [
      ['an override the hook does not allow', 'subscribe', { result: { userId: 'mallory' } }],
      ['an unknown result field', 'connect', { result: { user: 'alice' } }],
      ['two answers at once', 'connect', { result: {}, error: { code: 403 } }],
      ['no answer', 'connect', {}],
      ['an unknown answer', 'connect', { allow: true }],
      ['an array', 'connect', [{ result: {} }]],
      ['a non-integer error code', 'subscribe', { error: { code: '403' } }],
      ['an error code outside 400-4999', 'subscribe', { error: { code: 200 } }],
      ['a disconnect code outside 4000-4999', 'connect', { disconnect: { code: 1000, reason: 'bye' } }],
      ['a disconnect reason longer than a close frame allows', 'connect', { disconnect: { code: 4502, reason: 'é'.repeat(62) } }],
      ['an empty user id', 'connect', { result: { userId: '' } }],
      ['a bad channels claim', 'connect', { result: { channels: { 'chat*': ['subscribe'] } } }],
      ['a fractional expiry', 'connect', { result: { expiresAt: 1.5 } }],
    ];
    for (const [name, kind, answer] of cases) {
      it(name, async () => {
        const server = await backend(json(answer));
        const hooks = createHttpHooks({ connectUrl: server.url, subscribeUrl: server.url, publishUrl: server.url });
        const hook = { connect: hooks.onConnect!, subscribe: hooks.onSubscribe!, publish: hooks.onPublish! }[kind];
        assert.deepEqual(await hook({ ...REQUEST, channel: 'chat:1' }), { type: 'unavailable', reason: 'bad_response' });
      });
    }
  });

  it('reads a `__proto__` key in the answer as an unknown field and pollutes nothing', async () => {
    const server = await backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"result": {"__proto__": {"polluted": true}}}');
    });
    const decision = await createHttpHooks({ connectUrl: server.url }).onConnect!(REQUEST);
    assert.deepEqual(decision, { type: 'unavailable', reason: 'bad_response' });
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('treats a body that is not JSON, or not UTF-8, as `bad_response`', async () => {
    for (const body of [Buffer.from('not json'), Buffer.from([0x7b, 0xff, 0x7d]), Buffer.alloc(0)]) {
      const server = await backend((_req, res) => {
        res.writeHead(200);
        res.end(body);
      });
      assert.deepEqual(await createHttpHooks({ connectUrl: server.url }).onConnect!(REQUEST), { type: 'unavailable', reason: 'bad_response' });
    }
  });

  it('turns a non-2xx status into `unavailable` with the status', async () => {
    for (const status of [500, 403, 404, 204 + 100]) {
      const server = await backend(json({ result: {} }, status));
      assert.deepEqual(await createHttpHooks({ connectUrl: server.url }).onConnect!(REQUEST), { type: 'unavailable', reason: 'status', status });
    }
  });

  it('gives up after `timeoutMs` when the backend does not answer', async () => {
    const server = await backend(() => {
      /* never answers */
    });
    const start = performance.now();
    const decision = await createHttpHooks({ connectUrl: server.url, timeoutMs: 150 }).onConnect!(REQUEST);
    const elapsed = performance.now() - start;
    assert.deepEqual(decision, { type: 'unavailable', reason: 'timeout' });
    assert.ok(elapsed >= 140 && elapsed < 2000, `took ${elapsed} ms`);
  });

  it('gives up after `timeoutMs` when the body stalls after the headers', async () => {
    const server = await backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"result":');
    });
    const decision = await createHttpHooks({ connectUrl: server.url, timeoutMs: 150 }).onConnect!(REQUEST);
    assert.deepEqual(decision, { type: 'unavailable', reason: 'timeout' });
  });

  it('refuses a body announced as longer than `maxResponseBytes`', async () => {
    const server = await backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1024 * 1024) });
      res.write('{');
    });
    assert.deepEqual(await createHttpHooks({ connectUrl: server.url }).onConnect!(REQUEST), { type: 'unavailable', reason: 'too_large' });
  });

  it('stops reading a chunked body once it passes `maxResponseBytes`', async () => {
    let written = 0;
    const server = await backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = (): void => {
        // Keep writing (up to 64 MiB) while the client reads; it must stop long before.
        while (written < 64 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
    });
    const decision = await createHttpHooks({ connectUrl: server.url, maxResponseBytes: 64 * 1024 }).onConnect!(REQUEST);
    assert.deepEqual(decision, { type: 'unavailable', reason: 'too_large' });
    assert.ok(written < 32 * 1024 * 1024, `the server wrote ${written} bytes`);
  });

  it('never follows a redirect, so the request and its headers stay with the backend', async () => {
    const elsewhere = await backend(json({ result: {} }));
    const server = await backend((_req, res) => {
      res.writeHead(307, { location: elsewhere.url });
      res.end();
    });
    const decision = await createHttpHooks({ connectUrl: server.url, headers: { authorization: 'Bearer hub-secret' } }).onConnect!(REQUEST);
    assert.equal(decision.type, 'unavailable');
    assert.equal(elsewhere.requests.length, 0);
  });

  it('reports a backend that refuses connections as `network`', async () => {
    const server = await backend(json({ result: {} }));
    const url = server.url;
    servers.pop();
    await server.close();
    assert.deepEqual(await createHttpHooks({ connectUrl: url }).onConnect!(REQUEST), { type: 'unavailable', reason: 'network' });
  });

  it('reports data it cannot serialize as `bad_request` instead of throwing', async () => {
    const hooks = createHttpHooks({ publishUrl: 'http://127.0.0.1:1/publish' });
    assert.deepEqual(await hooks.onPublish!({ ...REQUEST, channel: 'c', data: 10n }), { type: 'unavailable', reason: 'bad_request' });
  });

  it('refuses bad options synchronously', () => {
    assert.throws(() => createHttpHooks({ connectUrl: 'not a url' }), TypeError);
    assert.throws(() => createHttpHooks({ connectUrl: 'ftp://127.0.0.1/x' }), TypeError);
    assert.throws(() => createHttpHooks({ connectUrl: 'http://user:pw@127.0.0.1/x' }), TypeError);
    assert.throws(() => createHttpHooks({ timeoutMs: 0 }), TypeError);
    assert.throws(() => createHttpHooks({ maxResponseBytes: 1.5 }), TypeError);
    assert.throws(() => createHttpHooks({ headers: { 'x-evil': 'a\r\nb: c' } }), TypeError);
  });
});

describe('readLimitedBody', () => {
  const stream = (...chunks: number[]): ReadableStream<Uint8Array> =>
    new ReadableStream({
      start(controller) {
        for (const size of chunks) controller.enqueue(new Uint8Array(size).fill(1));
        controller.close();
      },
    });

  it('returns the whole body when it fits, exactly at the limit included', async () => {
    assert.equal((await readLimitedBody(stream(3, 4, 3), 10))?.byteLength, 10);
    assert.equal((await readLimitedBody(null, 10))?.byteLength, 0);
  });

  it('returns undefined one byte over the limit', async () => {
    assert.equal(await readLimitedBody(stream(3, 4, 4), 10), undefined);
  });
});
