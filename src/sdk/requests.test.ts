/**
 * The command pipeline without a network: ids per connection, order, the in-flight bound, the outbox across
 * a reconnect, timeouts, and the pause and pacing after `rate_limited`. Time is a manual clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Command } from '../hub/wire.js';
import { ManualClock } from './harness.test.js';
import { MAX_IN_FLIGHT, Pipeline, type RequestKind } from './requests.js';
import type { VolleyError } from './errors.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup() {
  const clock = new ManualClock();
  const pipeline = new Pipeline(clock);
  const sent: Command[] = [];
  const results = new Map<string, { error: VolleyError | null; result?: unknown }>();
  const request = (name: string, kind: RequestKind, body: Record<string, unknown>, timeoutMs = 1000, key?: string): void =>
    pipeline.request(kind, body as never, { timeoutMs, ...(key !== undefined ? { idempotencyKey: key } : {}) }, (error, result) =>
      results.set(name, { error, result }),
    );
  const attach = (): void => pipeline.attach((commands) => sent.push(...commands));
  return { clock, pipeline, sent, results, request, attach };
}

describe('Pipeline', () => {
  test('before the connect reply only the handshake goes; then the rest, in order, numbered from 1', async () => {
    const { pipeline, sent, request, attach } = setup();
    request('p', 'publish', { type: 'publish', channel: 'a', data: 1, idempotencyKey: 'k' });
    request('c', 'handshake', { type: 'connect' });
    attach();
    await tick();
    assert.deepEqual(sent, [{ id: 1, type: 'connect' }]);
    pipeline.open();
    await tick();
    assert.deepEqual(sent[1], { id: 2, type: 'publish', channel: 'a', data: 1, idempotencyKey: 'k' });
  });

  test('a reply settles the request with the same id; an unknown id is ignored', async () => {
    const { pipeline, results, request, attach } = setup();
    attach();
    pipeline.open();
    request('h', 'call', { type: 'history', channel: 'a' });
    await tick();
    assert.equal(pipeline.reply({ id: 9, result: {} }), false);
    assert.equal(pipeline.reply({ id: 1, result: { offset: 3 } }), true);
    assert.deepEqual(results.get('h'), { error: null, result: { offset: 3 } });
  });

  test(`keeps at most ${MAX_IN_FLIGHT} commands in flight`, async () => {
    const { pipeline, sent, request, attach } = setup();
    attach();
    pipeline.open();
    for (let i = 0; i < MAX_IN_FLIGHT + 10; i++) request(`r${i}`, 'call', { type: 'ping' });
    await tick();
    assert.equal(sent.length, MAX_IN_FLIGHT);
    pipeline.reply({ id: 1, result: {} });
    await tick();
    assert.equal(sent.length, MAX_IN_FLIGHT + 1);
  });

  test('after a reconnect, unacknowledged publishes go again with their keys and in their order; calls in flight fail', async () => {
    const { pipeline, sent, results, request, attach } = setup();
    attach();
    pipeline.open();
    request('p1', 'publish', { type: 'publish', channel: 'a', data: 1, idempotencyKey: 'k1' }, 1000, 'k1');
    request('h', 'call', { type: 'history', channel: 'a' });
    request('p2', 'publish', { type: 'publish', channel: 'a', data: 2, idempotencyKey: 'k2' }, 1000, 'k2');
    await tick();
    pipeline.detach();
    assert.equal(results.get('h')?.error?.code, 'VOLLEY_ERR_CONNECTION_CLOSED');
    request('p3', 'publish', { type: 'publish', channel: 'a', data: 3, idempotencyKey: 'k3' }, 1000, 'k3');
    sent.length = 0;
    attach();
    pipeline.open();
    await tick();
    assert.deepEqual(
      sent.map((c) => [c.id, (c as { idempotencyKey?: string }).idempotencyKey]),
      [[1, 'k1'], [2, 'k2'], [3, 'k3']],
    );
    assert.equal(pipeline.pendingPublishes, 3);
  });

  test("a publish's timeout runs only while it is in flight", async () => {
    const { clock, pipeline, results, request, attach } = setup();
    request('p', 'publish', { type: 'publish', channel: 'a', data: 1, idempotencyKey: 'k' }, 1000, 'k');
    clock.advance(60_000); // queued while disconnected: no timeout
    assert.equal(results.size, 0);
    attach();
    pipeline.open();
    await tick();
    clock.advance(1000);
    const error = results.get('p')?.error;
    assert.equal(error?.code, 'VOLLEY_ERR_TIMEOUT');
    assert.equal(error?.idempotencyKey, 'k');
    assert.equal(pipeline.pendingPublishes, 0);
  });

  test('a call times out from the moment it is made, connected or not', () => {
    const { clock, results, request } = setup();
    request('h', 'call', { type: 'history', channel: 'a' }, 500);
    clock.advance(500);
    assert.equal(results.get('h')?.error?.code, 'VOLLEY_ERR_TIMEOUT');
  });

  test('rate_limited: the refused command goes again after retryAfterMs, then the backlog one at a time', async () => {
    const { clock, pipeline, sent, results, request, attach } = setup();
    attach();
    pipeline.open();
    for (let i = 1; i <= 4; i++) request(`p${i}`, 'publish', { type: 'publish', channel: 'a', data: i, idempotencyKey: `k${i}` }, 10_000, `k${i}`);
    await tick();
    assert.equal(sent.length, 4);
    pipeline.reply({ id: 1, result: { epoch: 'e', offset: 1 } });
    for (const id of [2, 3, 4]) pipeline.reply({ id, error: { code: 'rate_limited', message: 'slow down', retryAfterMs: 100 } });
    assert.equal(results.size, 1, 'refused publishes are not failed');
    sent.length = 0;
    await tick();
    assert.equal(sent.length, 0, 'held back');
    request('ping', 'control', { type: 'ping' });
    await tick();
    assert.deepEqual(sent.map((c) => c.type), ['ping'], 'control commands are exempt');
    sent.length = 0;
    clock.advance(99);
    assert.equal(sent.length, 0, 'not before retryAfterMs');
    clock.advance(2);
    assert.deepEqual(sent.map((c) => (c as { data: number }).data), [2], 'one after the pause');
    const pace = clock.pending()[0]!;
    assert.ok(pace >= 100 && pace <= 115, `paced at about retryAfterMs (${pace} ms)`);
    clock.advance(pace);
    assert.equal(sent.length, 1, 'not while the paced one awaits its reply');
    pipeline.reply({ id: sent[0]!.id, result: { epoch: 'e', offset: 2 } });
    await tick();
    assert.deepEqual(sent.map((c) => (c as { data: number }).data), [2, 3], 'then the next');
    pipeline.reply({ id: sent[1]!.id, error: { code: 'rate_limited', message: 'slow down', retryAfterMs: 100 } });
    clock.advance(clock.pending()[0]!);
    assert.deepEqual(sent.map((c) => (c as { data: number }).data), [2, 3, 3], 'a refused paced command goes again');
    pipeline.reply({ id: sent[2]!.id, result: { epoch: 'e', offset: 3 } });
    await tick();
    assert.ok(clock.pending()[0]! >= 2 * pace - 2, 'and the pace doubled');
    clock.advance(clock.pending()[0]!);
    assert.deepEqual(sent.map((c) => (c as { data: number }).data), [2, 3, 3, 4]);
  });

  test('failAll fails queued and in-flight requests with the given error', async () => {
    const { pipeline, results, request, attach } = setup();
    request('queued', 'publish', { type: 'publish', channel: 'a', data: 1, idempotencyKey: 'k' }, 1000, 'k');
    attach();
    pipeline.open();
    request('h', 'call', { type: 'ping' });
    await tick();
    const { VolleyError } = await import('./errors.js');
    pipeline.failAll(new VolleyError('VOLLEY_ERR_DISCONNECTED', 'stopped'));
    assert.equal(results.get('queued')?.error?.code, 'VOLLEY_ERR_DISCONNECTED');
    assert.equal(results.get('queued')?.error?.idempotencyKey, 'k');
    assert.equal(results.get('h')?.error?.code, 'VOLLEY_ERR_DISCONNECTED');
  });
});
