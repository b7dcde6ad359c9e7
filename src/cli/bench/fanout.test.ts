/**
 * The fanout workload against an in-process hub (`--volley-hub`): every publish the hub accepted reaches every
 * subscriber exactly once, latency comes from the stamps in `data`, and refusals are accounted for.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startHub, type StartHubOptions, type StartedHub } from '../../hub/testing/start-hub.js';
import { runFanout, type FanoutOptions } from './fanout.js';
import { HUB_CHANNEL } from './hub-wire.js';
import { parseTarget } from './target.js';

const hubs: StartedHub[] = [];
after(async () => {
  for (const hub of hubs) await hub.close();
});

async function hub(options: StartHubOptions = {}): Promise<StartedHub> {
  const started = await startHub({
    allowAnonymous: true,
    rateLimits: { connection: false },
    namespaces: { default: { subscribe: 'anyone', publish: 'anyone' } },
    ...options,
  });
  hubs.push(started);
  return started;
}

function options(started: StartedHub, rest: Partial<FanoutOptions> = {}): FanoutOptions {
  return {
    target: parseTarget(`ws://127.0.0.1:${started.port}/`, 'volley-hub'),
    subscribers: 20,
    size: 32,
    binary: false,
    rate: 'max',
    window: 8,
    sources: 1,
    warmupMs: 200,
    durationMs: 800,
    concurrency: 8,
    statsUrl: null,
    ...rest,
  };
}

describe('fanout workload against the hub', () => {
  test('as fast as delivery keeps up: every accepted publish reaches each of 20 subscribers once, with its latency', { timeout: 20_000 }, async () => {
    const started = await hub();
    const r = await runFanout(options(started));
    // The hub gave the publications offsets 1..N (history is on): N is what it accepted.
    const { offset } = await started.hub.history(HUB_CHANNEL, { limit: 0 });
    assert.ok(r.totalPublished > 50, `published ${r.totalPublished}`);
    assert.equal(offset, r.totalPublished);
    assert.equal(r.totalDeliveries, r.totalPublished * 20);
    assert.equal(r.undelivered, 0);
    assert.equal(r.refused, 0);
    assert.equal(r.connectionsLost, 0);
    assert.ok(r.deliveries > 0 && r.deliveriesPerSec > 0);
    // Every delivery in the window carries a stamp.
    assert.equal(r.latency.count, r.deliveries);
    assert.ok(r.latency.p50 > 0 && r.latency.max >= r.latency.p99);
  });

  test('at a fixed rate: publishes on schedule, every one delivered to every subscriber', { timeout: 20_000 }, async () => {
    const started = await hub({ namespaces: { default: { subscribe: 'anyone', publish: 'anyone', historySize: 0 } } });
    const r = await runFanout(options(started, { rate: 200 }));
    assert.ok(r.publishedPerSec > 120 && r.publishedPerSec < 280, `${r.publishedPerSec} published/s`);
    assert.equal(r.totalDeliveries, r.totalPublished * 20);
    assert.equal(r.undelivered, 0);
    assert.equal(r.latency.count, r.deliveries);
  });

  test('publishes the hub refuses are counted and expected at no subscriber', { timeout: 20_000 }, async () => {
    const started = await hub({ namespaces: { default: { subscribe: 'anyone', publish: 'nobody' } } });
    const r = await runFanout(options(started, { rate: 100, warmupMs: 0, durationMs: 300 }));
    assert.ok(r.totalPublished > 0);
    assert.equal(r.refused, r.totalPublished);
    assert.equal(r.totalDeliveries, 0);
    assert.equal(r.undelivered, 0);
    assert.match(r.firstError ?? '', /permission_denied/);
  });

  test('fails to open when the hub refuses the subscription, naming the error code', { timeout: 20_000 }, async () => {
    const started = await hub({ namespaces: { default: { subscribe: 'nobody', publish: 'anyone' } } });
    await assert.rejects(runFanout(options(started)), /the hub refused subscribe: permission_denied/);
  });
});
