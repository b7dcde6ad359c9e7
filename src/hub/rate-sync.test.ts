/**
 * Shared rate limits on the node side, against the in-memory reference store with a fake clock: what is debited
 * and when (at once for a quiet key, then at most once per interval), the local bucket following the shared
 * level to the token, the over-admission of nodes that have not synced yet staying within the documented bound,
 * and failing open. Then two hubs sharing one store.
 */
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTokenVerifier } from './auth.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { RateLimitSync } from './rate-sync.js';
import { MemorySharedBuckets } from './testing/shared-buckets.js';
import { fakeClock } from '../engines/contract/support.js';
import { hubScope } from './testing/hub-scope.js';
import { mintToken, TEST_SECRET } from './testing/tokens.js';

/** The hubs and clients of the two-hub test, closed after the file's last test. */
const scope = hubScope({
  verifier: createTokenVerifier({ hmacSecret: TEST_SECRET }),
  namespaces: { default: { publish: 'authenticated' } },
  rateLimits: { user: { commandsPerSecond: 1, commandsBurst: 5 }, syncIntervalMs: 10 },
});

const ONE = { commands: 1, bytes: 0 };
/** Long enough that the timer never fires during a test: the tests call sync() themselves. */
const MANUAL = { syncIntervalMs: 600_000 };

/** A node: its own limiter on the shared clock, synced to `store`. */
function node(store: MemorySharedBuckets, clock: { now: () => number }, limits: RateLimitOptions, events: string[] = []) {
  const limiter = new RateLimiter({ ...MANUAL, ...limits, now: clock.now });
  const sync = new RateLimitSync({
    store,
    limiter,
    now: clock.now,
    onOutage: (error) => events.push(`outage: ${(error as Error).message}`),
    onRecovery: () => events.push('recovered'),
  });
  /** The hub's check of one command by `user`: admitted ones are recorded for the next sync. */
  const command = (user: string) => {
    const verdict = limiter.check('user', user, ONE);
    if (verdict.allowed) sync.spent('user', user, ONE);
    return verdict;
  };
  /** Sends `n` commands; returns how many were admitted. */
  const burst = (user: string, n: number) => Array.from({ length: n }, () => command(user)).filter((v) => v.allowed).length;
  return { limiter, sync, command, burst };
}

describe('RateLimitSync', () => {
  it('debits a quiet key at once, then what follows in one debit per interval; never the connection scope or unlimited scopes', async () => {
    const clock = fakeClock();
    const store = new MemorySharedBuckets(clock.now);
    const limiter = new RateLimiter({ ...MANUAL, user: { commandsPerSecond: 10 }, channel: { commandsPerSecond: 100, bytesPerSecond: 1000 }, now: clock.now });
    const sync = new RateLimitSync({ store, limiter, now: clock.now });
    for (let i = 0; i < 3; i++) sync.spent('user', 'alice', { commands: 1, bytes: 100 });
    sync.spent('channel', 'news', { commands: 1, bytes: 100 });
    sync.spent('connection', 'c1', ONE);
    sync.spent('ip', '10.0.0.1', ONE);
    assert.deepEqual(store.calls, [
      ['user', 'alice', { commands: { rate: 10, burst: 20, spent: 1 } }],
      ['channel', 'news', { commands: { rate: 100, burst: 200, spent: 1 }, bytes: { rate: 1000, burst: 2000, spent: 100 } }],
    ]);
    assert.equal(sync.pending, 1, "alice's next two wait for the interval");
    await sync.sync();
    assert.deepEqual(store.calls.at(-1), ['user', 'alice', { commands: { rate: 10, burst: 20, spent: 2 } }]);
    assert.equal(sync.pending, 0);
    await sync.sync();
    assert.equal(store.calls.length, 3, 'nothing pending, nothing sent');
    sync.close();
  });

  it('brings the local bucket to the shared level, so what another node admitted is refused here', async () => {
    const clock = fakeClock();
    const store = new MemorySharedBuckets(clock.now);
    const limits = { user: { commandsPerSecond: 10, commandsBurst: 10 } };
    const a = node(store, clock, limits);
    const b = node(store, clock, limits);
    assert.equal(a.burst('alice', 10), 10);
    await a.sync.sync();
    assert.equal(store.level('user', 'alice'), 0);
    // B has not synced alice yet: its own view is a full bucket (the first-contact over-admission).
    assert.equal(b.burst('alice', 12), 10);
    await b.sync.sync();
    assert.equal(store.level('user', 'alice'), -10, 'the excess is a debt');
    assert.deepEqual(b.command('alice'), { allowed: false, retryAfterMs: 1100 }, '(1 + 10) tokens at 10/s');
    assert.deepEqual(a.command('alice'), { allowed: false, retryAfterMs: 100 }, 'A has not learnt of the debt yet');
    clock.advance(100);
    assert.equal(a.command('alice').allowed, true);
    await a.sync.sync();
    // -10 + 1 refilled − 1 admitted by A.
    assert.equal(store.level('user', 'alice'), -10);
    assert.deepEqual(a.command('alice'), { allowed: false, retryAfterMs: 1100 });
    assert.deepEqual(b.command('alice'), { allowed: false, retryAfterMs: 1000 });
    // Admitted in 100 ms: 21, within burst + rate × T + (N − 1) × (burst + rate × Δ) = 10 + 1 + (10 + 1).
    clock.advance(1100);
    assert.equal(a.burst('alice', 5), 1);
    // B's view still misses A's last command: the lag of one sync that the bound allows for.
    assert.equal(b.burst('alice', 5), 2);
  });

  it('keeps a key spread over three nodes to its limit once every node has synced', async () => {
    const clock = fakeClock();
    const store = new MemorySharedBuckets(clock.now);
    const limits = { user: { commandsPerSecond: 20, commandsBurst: 20 } };
    const nodes = [node(store, clock, limits), node(store, clock, limits), node(store, clock, limits)];
    let admitted = 0;
    // 10 s of 100 commands/s per node, syncing every 50 ms: 3000 commands against a limit of 20/s.
    for (let step = 0; step < 200; step++) {
      for (const n of nodes) admitted += n.burst('alice', 5);
      clock.advance(50);
      for (const n of nodes) await n.sync.sync();
    }
    const limit = 20 + 20 * 10;
    const bound = limit + 2 * (20 + 20 * 0.05);
    assert.ok(admitted <= bound, `${admitted} admitted, bound ${bound}`);
    assert.ok(admitted >= limit - 20, `${admitted} admitted: the limit is used, not starved`);
    // Without sharing each node would have admitted 220.
    assert.ok(admitted < 2 * limit);
  });

  it('subtracts what the node admitted while the debit was out', async () => {
    const clock = fakeClock();
    const store = new MemorySharedBuckets(clock.now);
    const a = node(store, clock, { user: { commandsPerSecond: 10, commandsBurst: 20 } });
    await store.debit('user', 'alice', { commands: { rate: 10, burst: 20, spent: 6 } }); // another node
    let open!: () => void;
    store.gate = new Promise((resolve) => (open = resolve));
    // The first command goes out at once (a quiet key) and waits at the gate; 4 more are admitted meanwhile.
    assert.equal(a.burst('alice', 5), 5);
    assert.deepEqual(store.calls.at(-1), ['user', 'alice', { commands: { rate: 10, burst: 20, spent: 1 } }]);
    open();
    await new Promise(setImmediate);
    // Shared: 20 − 6 − 1 = 13; the 4 admitted meanwhile are not in it yet, so the local bucket holds 9.
    assert.equal(a.burst('alice', 16), 9);
    assert.deepEqual(a.command('alice'), { allowed: false, retryAfterMs: 100 });
    await a.sync.sync();
    assert.deepEqual(store.calls.at(-1), ['user', 'alice', { commands: { rate: 10, burst: 20, spent: 13 } }]);
    assert.equal(store.level('user', 'alice'), 0);
  });

  it('fails open when the store fails: each node keeps its own buckets, and the outage and recovery are told once', async () => {
    const clock = fakeClock();
    const store = new MemorySharedBuckets(clock.now);
    const events: string[] = [];
    const a = node(store, clock, { user: { commandsPerSecond: 10, commandsBurst: 10 } }, events);
    store.failure = new Error('Redis unavailable');
    assert.equal(a.burst('alice', 4), 4);
    await a.sync.sync();
    assert.equal(a.burst('alice', 4), 4);
    await a.sync.sync();
    assert.deepEqual(events, ['outage: Redis unavailable']);
    assert.equal(a.burst('alice', 4), 2, 'the local bucket still limits');
    store.failure = null;
    await a.sync.sync();
    assert.deepEqual(events, ['outage: Redis unavailable', 'recovered']);
    // The debits sent during the outage were dropped: the shared bucket saw only the last 2.
    assert.equal(store.level('user', 'alice'), 8);
  });

  it('syncs on its own every syncIntervalMs while something is pending, and not at all once closed', async () => {
    const store = new MemorySharedBuckets();
    const limiter = new RateLimiter({ user: { commandsPerSecond: 10 }, syncIntervalMs: 10 });
    const sync = new RateLimitSync({ store, limiter });
    sync.spent('user', 'alice', ONE);
    await sleep(60);
    assert.equal(store.calls.length, 1);
    await sleep(30);
    assert.equal(store.calls.length, 1, 'idle: no calls');
    sync.close();
    sync.spent('user', 'alice', ONE);
    assert.equal(sync.pending, 0);
    await sleep(30);
    assert.equal(store.calls.length, 1);
  });
});

describe('two hubs sharing a rate-limit store', () => {
  test("refuse a user's publishes on one hub once the other used the user's limit, after one command", { timeout: 10_000 }, async () => {
    const store = new MemorySharedBuckets();
    const hubs = [await scope.hub({ sharedRateLimits: store }), await scope.hub({ sharedRateLimits: store })];
    const token = await mintToken({ sub: 'alice' });
    const [onA, onB] = await Promise.all(hubs.map((h) => scope.open(h)));
    await Promise.all([onA!.connect(token), onB!.connect(token)]);
    for (let i = 0; i < 5; i++) await onA!.ok('publish', { channel: 'news', data: i });
    await sleep(60);
    assert.ok(store.level('user', 'alice')! < 1);
    // B has not seen alice: it admits on its own view once, and learns the shared level with that debit.
    await onB!.ok('publish', { channel: 'news', data: 'first on B' });
    const refused = await onB!.call('publish', { channel: 'news', data: 'one too many' });
    assert.equal(refused.error?.code, 'rate_limited');
    assert.ok(refused.error!.retryAfterMs! > 1000, `retry after ${refused.error!.retryAfterMs} ms: the debt of B's publish at 1/s`);
    assert.equal((await onA!.call('publish', { channel: 'news', data: 'and on A' })).error?.code, 'rate_limited');
    await Promise.all([onA!.close(), onB!.close()]);
  });
});
