/**
 * LocalIdempotency, the default idempotency store of channels without history: one delivery per key and window,
 * a failed publish remembered as nothing, keys forgotten when their window ends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBroker } from '../engines/index.js';
import type { Publication } from './engine.js';
import { LocalIdempotency } from './idempotency.js';

/** A broker that records what it was asked to publish, and fails while `failing`. */
class RecordingBroker extends MemoryBroker {
  readonly published: unknown[] = [];
  failing = false;
  override async publish(channel: string, publication: Publication, epoch: string): Promise<void> {
    if (this.failing) throw Object.assign(new Error('down'), { code: 'VOLLEY_ERR_ENGINE_UNAVAILABLE' });
    this.published.push(publication.data);
    return super.publish(channel, publication, epoch);
  }
}

const WINDOW = { windowMs: 1000 };
const at = (data: unknown): Publication => ({ offset: 0, data, time: 1 });

describe('LocalIdempotency', () => {
  it('publishes the first publish of a key and none of its repeats within the window', async () => {
    const broker = new RecordingBroker();
    const store = new LocalIdempotency(broker, () => 5_000);
    assert.equal(await store.publishOnce('ticker', at(1), { ...WINDOW, idempotencyKey: 'k' }), true);
    assert.equal(await store.publishOnce('ticker', at(2), { ...WINDOW, idempotencyKey: 'k' }), false);
    assert.equal(await store.publishOnce('ticker', at(3), { ...WINDOW, idempotencyKey: 'other' }), true);
    assert.equal(await store.publishOnce('quotes', at(4), { ...WINDOW, idempotencyKey: 'k' }), true, 'keys are per channel');
    assert.deepEqual(broker.published, [1, 3, 4]);
  });

  it('publishes a key again once its window has ended, and forgets expired keys', async () => {
    let now = 5_000;
    const broker = new RecordingBroker();
    const store = new LocalIdempotency(broker, () => now);
    await store.publishOnce('ticker', at(1), { ...WINDOW, idempotencyKey: 'k' });
    now += 999;
    assert.equal(await store.publishOnce('ticker', at(2), { ...WINDOW, idempotencyKey: 'k' }), false);
    now += 1;
    assert.equal(await store.publishOnce('ticker', at(3), { ...WINDOW, idempotencyKey: 'fresh' }), true);
    assert.equal(store.size, 1, 'the expired key is gone');
    assert.equal(await store.publishOnce('ticker', at(4), { ...WINDOW, idempotencyKey: 'k' }), true);
    assert.deepEqual(broker.published, [1, 3, 4]);
  });

  it('remembers nothing when the publish fails, so the retry publishes', async () => {
    const broker = new RecordingBroker();
    const store = new LocalIdempotency(broker, () => 5_000);
    broker.failing = true;
    await assert.rejects(store.publishOnce('ticker', at(1), { ...WINDOW, idempotencyKey: 'k' }), { code: 'VOLLEY_ERR_ENGINE_UNAVAILABLE' });
    broker.failing = false;
    assert.equal(await store.publishOnce('ticker', at(1), { ...WINDOW, idempotencyKey: 'k' }), true);
    assert.deepEqual(broker.published, [1]);
  });
});
