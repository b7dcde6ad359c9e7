/**
 * Engine outages (`VOLLEY_ERR_ENGINE_UNAVAILABLE`, `VOLLEY_ERR_ENGINE_FAILED`) reach clients as `unavailable`
 * with a fixed message on every path — client commands, the server-side API, `hub.presenceStore` — whatever the
 * engine; other engine failures stay `internal`.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MemoryBroker, MemoryHistoryStore, MemoryPresenceStore } from '../engines/index.js';
import type { PresenceStats } from './engine.js';
import { EngineOutageCode, isEngineOutage } from './engine-errors.js';
import { HubError } from './errors.js';
import { HubClient } from './testing/hub-client.js';
import { startHub, type StartedHub } from './testing/start-hub.js';

const T = { timeout: 10_000 };

/** Fails every call it makes with `failure` while it is set. */
let failure: Error | null = null;
const outage = (code: string) => Object.assign(new Error(`Redis said no (${code})`), { code });
class FlakyHistory extends MemoryHistoryStore {
  override append(...args: Parameters<MemoryHistoryStore['append']>) {
    return failure === null ? super.append(...args) : Promise.reject(failure);
  }
}
class FlakyBroker extends MemoryBroker {
  override publish(...args: Parameters<MemoryBroker['publish']>) {
    return failure === null ? super.publish(...args) : Promise.reject(failure);
  }
}
class FlakyPresence extends MemoryPresenceStore {
  override stats(channel: string): Promise<PresenceStats> {
    return failure === null ? super.stats(channel) : Promise.reject(failure);
  }
}

/** What the hub logged at warn. */
const warnings: Array<{ obj: object; msg: string | undefined }> = [];
const started: StartedHub = await startHub({
  allowAnonymous: true,
  logger: { debug() {}, info() {}, warn: (obj, msg) => void warnings.push({ obj, msg }), error() {} },
  broker: new FlakyBroker(),
  history: new FlakyHistory(),
  presence: new FlakyPresence(),
  namespaces: { default: { publish: 'anyone', presence: true, presenceQuery: 'anyone' }, namespaces: { nohist: { historySize: 0 } } },
});
after(() => started.close());

describe('engine outages', () => {
  test('are recognised by code, whatever the error class', () => {
    assert.equal(isEngineOutage(outage(EngineOutageCode.UNAVAILABLE)), true);
    assert.equal(isEngineOutage(outage(EngineOutageCode.FAILED)), true);
    assert.equal(isEngineOutage(outage('VOLLEY_ERR_NOT_JSON')), false);
    assert.equal(isEngineOutage(null), false);
  });

  test('fail a client publish with unavailable, with or without history; the client stays connected and the cause is logged', T, async () => {
    const client = await HubClient.open(started.url);
    await client.connect();
    for (const [code, message] of [
      [EngineOutageCode.UNAVAILABLE, 'the message store is unreachable: retry later'],
      [EngineOutageCode.FAILED, 'the message store refused the operation: retry later'],
    ] as const) {
      failure = outage(code);
      for (const channel of ['feed', 'nohist:feed']) {
        const reply = await client.call('publish', { channel, data: 1 });
        assert.deepEqual(reply.error, { code: 'unavailable', message }, `${code} in ${channel}`);
      }
    }
    // The cause is in the log, not on the wire.
    assert.ok(warnings.some((w) => w.msg === 'the message store refused an operation' && (w.obj as { err?: Error }).err?.message === `Redis said no (${EngineOutageCode.FAILED})`));
    failure = new Error('a bug');
    assert.equal((await client.call('publish', { channel: 'feed', data: 1 })).error?.code, 'internal');
    failure = null;
    assert.equal((await client.ok('publish', { channel: 'feed', data: 1 })).offset, 1);
    await client.close();
  });

  test('fail the server-side API and direct store use with HubError unavailable', T, async () => {
    failure = outage(EngineOutageCode.UNAVAILABLE);
    try {
      await assert.rejects(started.hub.publish('feed', 1), (error: unknown) => error instanceof HubError && error.code === 'unavailable');
      await assert.rejects(started.hub.presenceStore.stats('feed'), (error: unknown) => error instanceof HubError && error.code === 'unavailable');
    } finally {
      failure = null;
    }
  });
});
