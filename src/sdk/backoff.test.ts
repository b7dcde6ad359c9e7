import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffBounds, backoffDelay, DEFAULT_RECONNECT } from './backoff.js';

describe('backoffDelay', () => {
  const options = DEFAULT_RECONNECT;

  test('draws from [min, min + min·2^attempt], capped at max', () => {
    assert.equal(backoffDelay(0, options, () => 0), 250);
    assert.equal(backoffDelay(0, options, () => 0.999999), 499);
    assert.equal(backoffDelay(3, options, () => 0.5), 250 + 1000);
    assert.equal(backoffDelay(20, options, () => 0.999999), 15_000);
    assert.equal(backoffDelay(1000, options, () => 0.5), 7750, 'a huge attempt does not overflow');
  });

  test('every delay of 10,000 random draws is within the bounds of its attempt', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const { min, max } = backoffBounds(attempt, options);
      for (let i = 0; i < 10_000 / 12; i++) {
        const delay = backoffDelay(attempt, options, Math.random);
        assert.ok(delay >= min && delay <= max, `attempt ${attempt}: ${delay}`);
      }
    }
  });

  test('the jitter spreads a crowd: no 100 ms bucket holds more than 5 % of 10,000 capped delays', () => {
    const buckets = new Map<number, number>();
    for (let i = 0; i < 10_000; i++) {
      const bucket = Math.floor(backoffDelay(10, options, Math.random) / 100);
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
    }
    assert.ok(Math.max(...buckets.values()) < 500);
  });

  test('the ceiling doubles per attempt until the cap', () => {
    const maxima = Array.from({ length: 8 }, (_, attempt) => backoffBounds(attempt, options).max);
    assert.deepEqual(maxima, [500, 750, 1250, 2250, 4250, 8250, 15_000, 15_000]);
  });

  test('randomness outside [0, 1) is clamped', () => {
    assert.equal(backoffDelay(0, options, () => -3), 250);
    assert.equal(backoffDelay(0, options, () => 7), 500);
  });
});
