/**
 * `/metrics`: the Prometheus text has every Volley metric once traffic went through the hub, label values
 * stay bounded, and each server has a registry of its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HubClient, http, startTestServer, type TestServer } from '../server/harness.test.js';
import { DEFAULT_NAMESPACE_LABEL, OTHER_NAMESPACE_LABEL, PromMetrics } from './metrics.js';

const T = { timeout: 10_000 };

/** The value of the sample `name{labels}` (labels as printed), or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  let t: TestServer;
  let text: string;
  const clients: HubClient[] = [];

  before(async () => {
    t = await startTestServer({ allowAnonymous: true, namespaces: { namespaces: { chat: {} } } });
    const { client } = await HubClient.connect(t.wsUrl);
    clients.push(client);
    const sub = await client.command({ type: 'subscribe', channel: 'chat:m' });
    await client.command({ type: 'publish', channel: 'chat:m', data: 'from client' });
    await http(`${t.url}/api/publish`, { method: 'POST', body: { channel: 'chat:m', data: 'from api' } });
    await http(`${t.url}/api/publish`, { method: 'POST', body: { channel: 'lobby', data: 1 } });
    await http(`${t.url}/api/publish`, { method: 'POST', body: { channel: 'random-ns:x', data: 1 } });
    await client.nextPush((p) => p.type === 'publication' && p.data === 'from api');
    // A recovery that succeeds and one that cannot (unknown epoch: a gap).
    const second = await HubClient.connect(t.wsUrl);
    clients.push(second.client);
    const epoch = sub.result.epoch as string;
    await second.client.command({ type: 'subscribe', channel: 'chat:m', recover: { epoch, offset: 0 } });
    await second.client.command({ type: 'subscribe', channel: 'chat:other', recover: { epoch: 'gone', offset: 5 } });
    text = (await http(`${t.url}/metrics`)).text;
  });
  after(async () => {
    for (const client of clients) await client.close();
    await t.stop();
  });

  test('is served in the Prometheus text format', T, async () => {
    const res = await http(`${t.url}/metrics`, { apiKey: null });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  });

  test('declares every Volley metric', T, () => {
    for (const name of [
      'volley_connections',
      'volley_subscriptions',
      'volley_commands_total',
      'volley_messages_in_bytes_total',
      'volley_messages_out_bytes_total',
      'volley_publications_total',
      'volley_deliveries_total',
      'volley_publish_duration_seconds',
      'volley_recoveries_total',
      'volley_gaps_total',
      'volley_rate_limited_total',
      'volley_slow_consumers_total',
      'volley_http_api_requests_total',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
  });

  test('includes the default process metrics', T, () => {
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });

  test('counts the traffic that went through', T, () => {
    assert.equal(sample(text, 'volley_connections{transport="websocket"}'), 2);
    assert.equal(sample(text, 'volley_subscriptions{namespace="chat"}'), 3);
    assert.equal(sample(text, 'volley_commands_total{type="connect"}'), 2);
    assert.equal(sample(text, 'volley_commands_total{type="publish"}'), 1);
    assert.ok(sample(text, 'volley_messages_in_bytes_total')! > 0);
    assert.equal(sample(text, 'volley_publications_total{namespace="chat"}'), 2);
    assert.equal(sample(text, `volley_publications_total{namespace="${DEFAULT_NAMESPACE_LABEL}"}`), 1);
    assert.equal(sample(text, `volley_publications_total{namespace="${OTHER_NAMESPACE_LABEL}"}`), 1);
    assert.equal(sample(text, 'volley_deliveries_total{namespace="chat"}'), 2);
    assert.equal(sample(text, 'volley_publish_duration_seconds_count'), 4);
    assert.equal(sample(text, 'volley_recoveries_total{namespace="chat",result="recovered"}'), 1);
    assert.equal(sample(text, 'volley_recoveries_total{namespace="chat",result="gap"}'), 1);
    assert.equal(sample(text, 'volley_gaps_total{namespace="chat"}'), 1);
    assert.equal(sample(text, 'volley_http_api_requests_total{route="/api/publish",status="200"}'), 3);
  });

  test('answers 405 to a POST', T, async () => {
    const res = await http(`${t.url}/metrics`, { method: 'POST', body: {} });
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
  });
});

describe('rate-limit metrics', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ allowAnonymous: true, rateLimits: { connection: { commandsPerSecond: 1, commandsBurst: 2 } } });
  });
  after(() => t.stop());

  test('volley_rate_limited_total counts refusals by scope', T, async () => {
    const { client } = await HubClient.connect(t.wsUrl);
    try {
      const replies = await Promise.all([1, 2, 3].map(() => client.command({ type: 'ping' })));
      assert.ok(replies.some((r) => r.error?.code === 'rate_limited'), JSON.stringify(replies));
      const text = (await http(`${t.url}/metrics`)).text;
      assert.ok(sample(text, 'volley_rate_limited_total{scope="connection"}')! >= 1);
    } finally {
      await client.close();
    }
  });
});

describe('PromMetrics', () => {
  test('bounds namespace labels: configured names, (default), and (other) for the rest', () => {
    const metrics = new PromMetrics({ namespaces: ['chat'], defaultMetrics: false });
    assert.equal(metrics.namespaceLabel('chat'), 'chat');
    assert.equal(metrics.namespaceLabel(''), '(default)');
    assert.equal(metrics.namespaceLabel('made-up-by-a-client'), '(other)');
  });

  test('two instances in one process keep separate registries', async () => {
    const a = new PromMetrics();
    const b = new PromMetrics();
    a.published('', 0.001);
    assert.match(await a.text(), /^volley_publications_total\{namespace="\(default\)"\} 1$/m);
    assert.doesNotMatch(await b.text(), /^volley_publications_total\{/m);
  });
});
