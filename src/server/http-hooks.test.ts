/**
 * The application's backend decides connect, subscribe and publish over HTTP: its answers reach clients as
 * overrides, refusals, disconnects or `unavailable`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Hub } from '../hub/hub.js';
import { createHttpHooks } from '../hub/hooks.js';
import { HubClient } from '../hub/testing/hub-client.js';
import { startHub, type StartedHub } from '../hub/testing/start-hub.js';
import { hubHooksFromHttp } from './http-hooks.js';

const T = { timeout: 15_000 };

async function body(req: IncomingMessage): Promise<any> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return JSON.parse(text);
}

describe('HTTP hooks wired into the hub', () => {
  let backend: Server;
  let started: StartedHub;
  const seen: any[] = [];

  before(async () => {
    backend = createServer(async (req, res) => {
      const request = await body(req);
      seen.push({ path: req.url, ...request });
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/connect') res.end(JSON.stringify({ result: { userId: 'from-backend' } }));
      else if (req.url === '/subscribe') {
        if (request.channel === 'chat:secret') res.end(JSON.stringify({ error: { code: 403, message: 'not for you' } }));
        else if (request.channel === 'chat:kick') res.end(JSON.stringify({ disconnect: { code: 4502, reason: 'kicked by backend' } }));
        else if (request.channel === 'chat:slow') setTimeout(() => res.end('{}'), 6000).unref();
        else res.end(JSON.stringify({ result: {} }));
      } else res.end(JSON.stringify({ result: { data: { wrapped: request.data } } }));
    }).listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    const http = createHttpHooks({ connectUrl: `${base}/connect`, subscribeUrl: `${base}/subscribe`, publishUrl: `${base}/publish`, timeoutMs: 2000 });
    let hub: Hub | null = null;
    started = await startHub({
      allowAnonymous: true,
      namespaces: { default: { subscribe: 'anyone', publish: 'anyone' } },
      hooks: hubHooksFromHttp(http, () => hub!),
    });
    hub = started.hub;
  });

  after(async () => {
    await started.close();
    backend.closeAllConnections();
    backend.close();
  });

  test('the connect hook overrides the user id, and the backend learns the transport and address', T, async () => {
    const client = await HubClient.open(started.url);
    const result = await client.connect();
    assert.equal(result.userId, 'from-backend');
    const asked = seen.find((r) => r.path === '/connect');
    assert.equal(asked.transport, 'websocket');
    assert.match(asked.remoteAddress, /127\.0\.0\.1/);
    await client.close();
  });

  test('the publish hook transforms the data every subscriber receives', T, async () => {
    const client = await HubClient.open(started.url);
    await client.connect();
    await client.ok('subscribe', { channel: 'chat:room' });
    await client.ok('publish', { channel: 'chat:room', data: { text: 'hi' } });
    const push = await client.nextPush((p) => p.type === 'publication');
    assert.deepEqual(push.data, { wrapped: { text: 'hi' } });
    await client.close();
  });

  test('a backend refusal becomes permission_denied and the connection stays usable', T, async () => {
    const client = await HubClient.open(started.url);
    await client.connect();
    const reply = await client.call('subscribe', { channel: 'chat:secret' });
    assert.equal(reply.error?.code, 'permission_denied');
    assert.equal(reply.error?.message, 'not for you');
    await client.ok('ping');
    await client.close();
  });

  test('a backend disconnect closes the connection with its code', T, async () => {
    const client = await HubClient.open(started.url);
    await client.connect();
    client.send('subscribe', { channel: 'chat:kick' });
    const push = await client.nextPush((p) => p.type === 'disconnect');
    assert.equal(push.code, 4502);
    assert.equal(push.reason, 'kicked by backend');
    await client.close();
  });

  test('a backend that does not answer in time gives unavailable, not a hang', T, async () => {
    const client = await HubClient.open(started.url);
    await client.connect();
    const reply = await client.call('subscribe', { channel: 'chat:slow' }, 8000);
    assert.equal(reply.error?.code, 'unavailable');
    await client.close();
  });
});
