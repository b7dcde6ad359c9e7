/**
 * Tests of the rate limits, with a fake clock: bucket arithmetic, keyed limits with bounded memory, and the
 * escalation from `rate_limited` to a disconnect.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_CONNECTION_LIMITS,
  RATE_LIMIT_DISCONNECT_CODE,
  RateLimiter,
  TokenBucket,
  ViolationTracker,
} from './rate-limit.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void; set: (t: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (value) => {
      t = value;
    },
  };
}

describe('TokenBucket', () => {
  it('starts full and allows a burst of exactly `burst` tokens', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ rate: 10, burst: 20 }, clock.now);
    for (let i = 0; i < 20; i++) assert.equal(bucket.take(), 0, `take ${i}`);
    assert.equal(bucket.take(), 100, 'the next token comes in 1000 / 10 ms');
  });

  it('refills at `rate` per second, to the millisecond', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ rate: 10, burst: 20 }, clock.now);
    bucket.take(20);
    clock.advance(99);
    assert.equal(bucket.take(), 1);
    clock.advance(1);
    assert.equal(bucket.take(), 0);
    assert.equal(bucket.take(), 100);
    clock.advance(250);
    assert.equal(bucket.available, 2.5);
  });

  it('computes waits exactly for rates that do not divide 1000', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ rate: 3, burst: 1 }, clock.now);
    assert.equal(bucket.take(), 0);
    assert.equal(bucket.take(), 334, 'ceil(1000 / 3)');
    clock.advance(333);
    assert.equal(bucket.take(), 1, '333 ms give 0.999 tokens');
    clock.advance(1);
    assert.equal(bucket.take(), 0);
  });

  it('never holds more than `burst` tokens, however long it idles', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ rate: 100, burst: 5 }, clock.now);
    clock.advance(3_600_000);
    assert.equal(bucket.available, 5);
    for (let i = 0; i < 5; i++) assert.equal(bucket.take(), 0);
    assert.ok(bucket.take() > 0);
  });

  it('takes nothing when it denies', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ rate: 1, burst: 10 }, clock.now);
    bucket.take(8);
    assert.equal(bucket.take(5), 3000);
    assert.equal(bucket.available, 2);
    assert.equal(bucket.take(2), 0);
  });

  it('never allows a cost above `burst`: the wait is Infinity and nothing is taken', () => {
    const bucket = new TokenBucket({ rate: 1000, burst: 10 }, fakeClock().now);
    assert.equal(bucket.take(11), Infinity);
    assert.equal(bucket.delay(11), Infinity);
    assert.equal(bucket.available, 10);
    assert.equal(bucket.take(10), 0);
  });

  it('allows a zero cost even when empty', () => {
    const bucket = new TokenBucket({ rate: 1, burst: 1 }, fakeClock().now);
    bucket.take();
    assert.equal(bucket.take(0), 0);
  });

  it('gives no tokens when the clock steps back', () => {
    const clock = fakeClock(10_000);
    const bucket = new TokenBucket({ rate: 10, burst: 1 }, clock.now);
    bucket.take();
    clock.set(5_000);
    assert.equal(bucket.take(), 100);
    clock.set(10_050);
    assert.equal(bucket.take(), 50);
  });

  it('refuses bad options and costs with RangeError', () => {
    for (const options of [{ rate: 0, burst: 1 }, { rate: -1, burst: 1 }, { rate: Number.NaN, burst: 1 }, { rate: Infinity, burst: 1 }, { rate: 1, burst: 0 }, { rate: 1, burst: 2 ** 41 }]) {
      assert.throws(() => new TokenBucket(options), RangeError, JSON.stringify(options));
    }
    const bucket = new TokenBucket({ rate: 1, burst: 1 });
    assert.throws(() => bucket.take(-1), RangeError);
    assert.throws(() => bucket.take(Number.NaN), RangeError);
    assert.throws(() => bucket.assign(Number.NaN), RangeError);
  });

  it('adopts an assigned level as of now, capped at the burst', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ rate: 10, burst: 20 }, clock.now);
    bucket.assign(3);
    assert.equal(bucket.available, 3);
    clock.advance(100);
    assert.equal(bucket.available, 4);
    bucket.assign(500);
    assert.equal(bucket.available, 20);
  });

  it('refuses everything while an assigned debt is repaid, then refills from zero', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ rate: 10, burst: 20 }, clock.now);
    bucket.assign(-4.5);
    assert.equal(bucket.take(), 550, '(1 + 4.5) tokens at 10/s');
    clock.advance(450);
    assert.equal(bucket.available, 0);
    assert.equal(bucket.take(), 100);
    clock.advance(100);
    assert.equal(bucket.take(), 0);
  });
});

describe('RateLimiter', () => {
  it('limits each connection to 100 commands/s with a burst of 200 by default', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ now: clock.now });
    assert.deepEqual(DEFAULT_CONNECTION_LIMITS, { commandsPerSecond: 100, commandsBurst: 200, bytesPerSecond: 1048576, bytesBurst: 2097152 });
    for (let i = 0; i < 200; i++) assert.deepEqual(limiter.check('connection', 'c1'), { allowed: true });
    assert.deepEqual(limiter.check('connection', 'c1'), { allowed: false, retryAfterMs: 10 });
    assert.deepEqual(limiter.check('connection', 'c2'), { allowed: true }, 'another connection has its own bucket');
    clock.advance(10);
    assert.deepEqual(limiter.check('connection', 'c1'), { allowed: true });
  });

  it('limits each connection to 1 MiB/s with a burst of 2 MiB by default', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ now: clock.now });
    assert.deepEqual(limiter.check('connection', 'c', { bytes: 2 * 1024 * 1024 }), { allowed: true });
    assert.deepEqual(limiter.check('connection', 'c', { bytes: 1024 }), { allowed: false, retryAfterMs: 1 });
    clock.advance(1000);
    assert.deepEqual(limiter.check('connection', 'c', { bytes: 1024 * 1024 }), { allowed: true });
  });

  it('leaves user, ip and channel unlimited by default, remembering nothing for them', () => {
    const limiter = new RateLimiter({ now: fakeClock().now });
    for (const scope of ['user', 'ip', 'channel'] as const) {
      assert.equal(limiter.enabled(scope), false);
      for (let i = 0; i < 10_000; i++) assert.equal(limiter.check(scope, 'k', { bytes: 1e9 }).allowed, true);
      assert.equal(limiter.size(scope), 0);
    }
    assert.equal(limiter.enabled('connection'), true);
  });

  it('turns a scope off with `false` and sets exactly the limits an object names', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ connection: false, user: { commandsPerSecond: 5 }, channel: { bytesPerSecond: 100, bytesBurst: 100 }, now: clock.now });
    assert.equal(limiter.enabled('connection'), false);
    for (let i = 0; i < 10; i++) assert.equal(limiter.check('user', 'alice').allowed, true, 'burst defaults to twice the rate');
    assert.deepEqual(limiter.check('user', 'alice'), { allowed: false, retryAfterMs: 200 });
    assert.equal(limiter.check('channel', 'chat:1', { commands: 1000, bytes: 100 }).allowed, true, 'commands are not limited');
    assert.deepEqual(limiter.check('channel', 'chat:1', { bytes: 10 }), { allowed: false, retryAfterMs: 100 });
  });

  it('charges nothing when one dimension denies', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ connection: { commandsPerSecond: 10, commandsBurst: 10, bytesPerSecond: 100, bytesBurst: 100 }, now: clock.now });
    assert.deepEqual(limiter.check('connection', 'c', { bytes: 101 }), { allowed: false, retryAfterMs: Infinity });
    for (let i = 0; i < 10; i++) assert.equal(limiter.check('connection', 'c', { bytes: 10 }).allowed, true, `command ${i}`);
    assert.equal(limiter.check('connection', 'c', { bytes: 0 }).allowed, false);
  });

  it('reports the longer wait when both dimensions deny', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ connection: { commandsPerSecond: 1, commandsBurst: 1, bytesPerSecond: 1, bytesBurst: 10 }, now: clock.now });
    assert.equal(limiter.check('connection', 'c', { bytes: 10 }).allowed, true);
    assert.deepEqual(limiter.check('connection', 'c', { bytes: 5 }), { allowed: false, retryAfterMs: 5000 });
  });

  it('lets exactly the burst through a flood of 50000 commands in one millisecond (reliability L3)', () => {
    const limiter = new RateLimiter({ now: fakeClock().now });
    let allowed = 0;
    for (let i = 0; i < 50_000; i++) if (limiter.check('connection', 'flooder', { bytes: 10 }).allowed) allowed++;
    assert.equal(allowed, 200);
  });

  it('remembers at most `maxKeys` keys per scope, forgetting the least recently used first', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ connection: { commandsPerSecond: 1, commandsBurst: 1 }, maxKeys: 3, now: clock.now });
    limiter.check('connection', 'a');
    limiter.check('connection', 'b');
    limiter.check('connection', 'c');
    assert.equal(limiter.check('connection', 'a').allowed, false, 'touches a');
    limiter.check('connection', 'd');
    assert.equal(limiter.size('connection'), 3);
    assert.equal(limiter.check('connection', 'a').allowed, false, 'a was recently used and is still limited');
    assert.equal(limiter.check('connection', 'b').allowed, true, 'b was forgotten, so its bucket restarted full');
    for (let i = 0; i < 100_000; i++) limiter.check('connection', `k${i}`);
    assert.equal(limiter.size('connection'), 3);
  });

  it('forgets a key on request', () => {
    const limiter = new RateLimiter({ connection: { commandsPerSecond: 1, commandsBurst: 1 }, now: fakeClock().now });
    limiter.check('connection', 'c');
    assert.equal(limiter.check('connection', 'c').allowed, false);
    limiter.forget('connection', 'c');
    assert.equal(limiter.size('connection'), 0);
    assert.equal(limiter.check('connection', 'c').allowed, true);
  });

  it('refuses bad options at construction and bad calls synchronously', () => {
    assert.throws(() => new RateLimiter({ user: { commandsBurst: 10 } }), TypeError);
    assert.throws(() => new RateLimiter({ user: { commandsPerSecond: 0 } }), RangeError);
    assert.throws(() => new RateLimiter({ maxKeys: 0 }), RangeError);
    assert.throws(() => new RateLimiter({ ip: 'on' as never }), TypeError);
    assert.throws(() => new RateLimiter({ syncIntervalMs: 0 }), RangeError);
    assert.throws(() => new RateLimiter({ syncIntervalMs: 1.5 }), RangeError);
    const limiter = new RateLimiter();
    assert.throws(() => limiter.check('tenant' as never, 'k'), TypeError);
    assert.throws(() => limiter.check('connection', 'k', { bytes: -1 }), RangeError);
  });

  it('reports the bucket settings of a scope, and a sync interval of 100 ms by default', () => {
    const limiter = new RateLimiter({ user: { commandsPerSecond: 5, bytesPerSecond: 100, bytesBurst: 1000 } });
    assert.deepEqual(limiter.limitsOf('user'), { commands: { rate: 5, burst: 10 }, bytes: { rate: 100, burst: 1000 } });
    assert.equal(limiter.limitsOf('ip'), undefined);
    assert.equal(limiter.syncIntervalMs, 100);
    assert.equal(new RateLimiter({ syncIntervalMs: 25 }).syncIntervalMs, 25);
  });

  it('assigns levels per dimension to a key, leaving unlimited scopes and absent dimensions alone', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ user: { commandsPerSecond: 10, bytesPerSecond: 1000 }, now: clock.now });
    limiter.assign('user', 'alice', { commands: -1 });
    assert.deepEqual(limiter.check('user', 'alice', { commands: 1, bytes: 10 }), { allowed: false, retryAfterMs: 200 });
    clock.advance(200);
    limiter.assign('user', 'alice', { bytes: 5 });
    // Commands kept their level (refilled to 1 token); bytes lack 5 at 1000/s.
    assert.deepEqual(limiter.check('user', 'alice', { commands: 1, bytes: 10 }), { allowed: false, retryAfterMs: 5 });
    clock.advance(5);
    assert.equal(limiter.check('user', 'alice', { commands: 1, bytes: 10 }).allowed, true);
    limiter.assign('ip', '10.0.0.1', { commands: -100 });
    assert.equal(limiter.size('ip'), 0);
  });
});

describe('ViolationTracker', () => {
  it('notifies on the first denial, denies the next ones, and disconnects on the eleventh within 10 s', () => {
    const clock = fakeClock();
    const tracker = new ViolationTracker({ now: clock.now });
    assert.equal(tracker.record('c'), 'notify');
    for (let i = 2; i <= 10; i++) {
      clock.advance(100);
      assert.equal(tracker.record('c'), 'deny', `denial ${i}`);
    }
    clock.advance(100);
    assert.equal(tracker.record('c'), 'disconnect');
    assert.equal(RATE_LIMIT_DISCONNECT_CODE, 4001);
  });

  it('notifies again after a quiet window', () => {
    const clock = fakeClock();
    const tracker = new ViolationTracker({ now: clock.now });
    assert.equal(tracker.record('c'), 'notify');
    assert.equal(tracker.record('c'), 'deny');
    clock.advance(10_000);
    assert.equal(tracker.record('c'), 'notify');
  });

  it('never disconnects a client whose denials stay at the threshold in every window', () => {
    const clock = fakeClock();
    const tracker = new ViolationTracker({ maxViolations: 10, windowMs: 10_000, now: clock.now });
    for (let i = 0; i < 100; i++) {
      assert.notEqual(tracker.record('c'), 'disconnect', `denial ${i}`);
      clock.advance(1000);
    }
  });

  it('keeps each key apart and remembers at most `maxKeys`', () => {
    const clock = fakeClock();
    const tracker = new ViolationTracker({ maxViolations: 1, maxKeys: 2, now: clock.now });
    assert.equal(tracker.record('a'), 'notify');
    assert.equal(tracker.record('b'), 'notify');
    assert.equal(tracker.record('a'), 'disconnect');
    for (let i = 0; i < 1000; i++) tracker.record(`k${i}`);
    assert.equal(tracker.size, 2);
    tracker.forget('k999');
    assert.equal(tracker.size, 1);
  });

  it('refuses bad options', () => {
    assert.throws(() => new ViolationTracker({ maxViolations: 0 }), RangeError);
    assert.throws(() => new ViolationTracker({ windowMs: 0 }), RangeError);
    assert.throws(() => new ViolationTracker({ maxKeys: 1.5 }), RangeError);
  });
});
