import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'hdr-histogram-js';
import { LatencyRecorder, bucketIndex, bucketValue, readClock } from './latency.js';

/** The histogram every value used to go into directly. */
function reference() {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: false });
}

/** A deterministic spread of latencies from 1 µs to 60 s (xorshift, log-uniform). */
function latencies(n: number): number[] {
  let x = 0x9e3779b9;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push(Math.max(1, Math.round(Math.exp(((x >>> 0) / 2 ** 32) * Math.log(60_000_000)))));
  }
  return out;
}

describe('bucketIndex', () => {
  test('is the index hdr-histogram-js uses for every value from 1 µs to 60 s', () => {
    const h = reference() as unknown as { countsArrayIndex(value: number): number };
    const values = [...latencies(20_000), 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 1_000_000, 60_000_000];
    for (const v of values) assert.equal(bucketIndex(v), h.countsArrayIndex(v), `value ${v}`);
  });

  test('bucketValue is the lowest value of its bucket', () => {
    for (const v of [...latencies(5_000), 1, 2047, 2048, 2049, 60_000_000]) {
      const i = bucketIndex(v);
      const low = bucketValue(i);
      assert.ok(low <= v, `value ${v}: lowest ${low}`);
      assert.equal(bucketIndex(low), i);
      assert.notEqual(bucketIndex(low - 1), i, `value ${v}: ${low - 1} is in the same bucket`);
    }
  });
});

describe('LatencyRecorder', () => {
  test('reports the percentiles and mean hdr-histogram-js gives for the same values, and the exact max', () => {
    const recorder = new LatencyRecorder();
    recorder.active = true;
    const h = reference();
    readClock.micros = 100_000_000;
    let max = 0;
    latencies(50_000).forEach((us, i) => {
      const count = 1 + (i % 7);
      recorder.record(readClock.micros - us, count);
      h.recordValueWithCount(us, count);
      max = Math.max(max, us);
    });
    const s = recorder.summary();
    const ms = (us: number) => Math.round(us) / 1000;
    assert.equal(s.count, h.totalCount);
    assert.equal(s.p50, ms(h.getValueAtPercentile(50)));
    assert.equal(s.p90, ms(h.getValueAtPercentile(90)));
    assert.equal(s.p99, ms(h.getValueAtPercentile(99)));
    assert.equal(s.p999, ms(h.getValueAtPercentile(99.9)));
    assert.equal(s.mean, ms(h.mean));
    assert.equal(s.max, ms(max));
  });

  test('records nothing while inactive, and clamps to 1 µs and 60 s', () => {
    const recorder = new LatencyRecorder();
    readClock.micros = 1_000;
    recorder.record(0, 5);
    assert.equal(recorder.summary().count, 0);
    recorder.active = true;
    recorder.record(2_000, 1); // stamped after the read: recorded as 1 µs
    readClock.micros = 200_000_000;
    recorder.record(0, 1); // 200 s: recorded as 60 s
    const s = recorder.summary();
    assert.equal(s.count, 2);
    assert.equal(s.max, 60_000);
    assert.equal(s.p50, 0.001);
  });
});
