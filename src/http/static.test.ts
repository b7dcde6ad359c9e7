/**
 * `/` (the status page), `/healthz` and `/docs/NAME`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HubClient, http, startTestServer, type TestServer } from '../server/harness.test.js';
import { createStaticHandler, renderStatusPage, type StatusSource } from './static.js';

const T = { timeout: 10_000 };
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('a running server', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ allowAnonymous: true });
  });
  after(() => t.stop());

  test('GET / says the hub runs, with version, node id, connections and the docs', T, async () => {
    const res = await http(`${t.url}/`, { apiKey: null });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.match(res.text, /Volley hub is running/);
    assert.ok(res.text.includes(version), 'version');
    assert.ok(res.text.includes(t.server.nodeId), 'node id');
    assert.match(res.text, /<dt>Connections<\/dt><dd>0<\/dd>/);
    assert.match(res.text, /href="docs\/openapi\.json"/);
    assert.match(res.text, /href="docs\/operations\.md"/);
    assert.doesNotMatch(res.text, /github\.com/);
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
  });

  test('GET / counts open connections', T, async () => {
    const { client } = await HubClient.connect(t.wsUrl);
    try {
      const res = await http(`${t.url}/`, { apiKey: null });
      assert.match(res.text, /<dt>Connections<\/dt><dd>1<\/dd>/);
    } finally {
      await client.close();
    }
  });

  test('GET /healthz answers {"status":"ok"}', T, async () => {
    const res = await http(`${t.url}/healthz`, { apiKey: null });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok' });
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  test('HEAD /healthz works and POST /healthz is 405', T, async () => {
    assert.equal((await http(`${t.url}/healthz`, { method: 'HEAD', apiKey: null })).status, 200);
    const post = await http(`${t.url}/healthz`, { method: 'POST', apiKey: null, body: {} });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('GET /docs/NAME serves the docs, and nothing outside them', T, async () => {
    const openapi = await http(`${t.url}/docs/openapi.json`, { apiKey: null });
    assert.equal(openapi.status, 200);
    assert.equal(openapi.json.openapi, '3.1.0');
    for (const path of ['/docs/../package.json', '/docs/%2e%2e/package.json', '/docs/nope.md', '/docs/']) {
      assert.equal((await http(`${t.url}${path}`, { apiKey: null })).status, 404, path);
    }
  });

  test('an unknown path is a JSON 404', T, async () => {
    const res = await http(`${t.url}/nothing-here`, { apiKey: null });
    assert.equal(res.status, 404);
    assert.equal(res.json.error.code, 'not_found');
  });
});

describe('the health check', () => {
  let server: Server;
  let url: string;
  let draining = false;
  const status: StatusSource = {
    version: '1.2.3',
    nodeId: 'node-a',
    connections: () => 7,
    draining: () => draining,
    websocketPath: '/ws',
    apiEnabled: false,
  };
  before(async () => {
    const handler = createStaticHandler({ status, docsDir: null });
    server = createServer((req, res) => {
      if (!handler(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('answers 503 {"status":"draining"} while the node shuts down', T, async () => {
    draining = true;
    const res = await http(`${url}/healthz`, { apiKey: null });
    assert.equal(res.status, 503);
    assert.deepEqual(res.json, { status: 'draining' });
    draining = false;
    assert.equal((await http(`${url}/healthz`, { apiKey: null })).status, 200);
  });

  test('the page escapes what it shows and says when the API is off', () => {
    const page = renderStatusPage({ ...status, nodeId: '<script>x</script>' }, []);
    assert.ok(!page.includes('<script>x'));
    assert.match(page, /&#60;script&#62;/);
    assert.match(page, /disabled \(no API key configured\)/);
    assert.match(page, /<dd>7<\/dd>/);
  });
});
