/**
 * Latency recording for the load generator: an HDR histogram of microseconds (3 significant digits), fed with
 * runs of messages that carry the same send stamp (every frame of one batched write shares its stamp, so a read
 * of 16 replies is usually one {@link LatencyRecorder.record}).
 *
 * Recording is on the receive path of every read, so it is a few integer operations: the counts array has the
 * layout of an HDR histogram with 2,048 sub-buckets (bucket = bit length above 11 bits, sub-bucket = the value
 * shifted right by the bucket), indexed with `Math.clz32` instead of the `log2`/`pow` that `hdr-histogram-js`
 * computes per value. {@link LatencyRecorder.summary} copies the non-empty buckets into an `hdr-histogram-js`
 * histogram of the same configuration, so percentiles and the mean are exactly what recording every value there
 * would give; the maximum is the exact largest value recorded.
 *
 * @module
 */

import { build } from 'hdr-histogram-js';

/** The time of the read being parsed, in µs; set once per read so parsing a batch costs no clock calls. */
export const readClock = { micros: 0 };

/** Largest latency tracked: 60 s (anything slower is recorded as 60 s). */
const MAX_TRACKED_US = 60_000_000;
/** log2 of the sub-buckets per bucket: 2,048 keeps 3 significant digits (what `hdr-histogram-js` picks for 3). */
const SUB_BUCKET_BITS = 11;
const HALF_BITS = SUB_BUCKET_BITS - 1;
const SUB_BUCKET_MASK = (1 << SUB_BUCKET_BITS) - 1;

/**
 * Index of integer `value` (1 ≤ value < 2^31) in an HDR counts array with 2,048 sub-buckets and a unit of 1: the
 * same index `hdr-histogram-js` computes for it.
 */
export function bucketIndex(value: number): number {
  const bucket = 32 - SUB_BUCKET_BITS - Math.clz32(value | SUB_BUCKET_MASK);
  return (bucket << HALF_BITS) + (value >>> bucket);
}

/** The lowest value counted at `index` (the inverse of {@link bucketIndex}). */
export function bucketValue(index: number): number {
  let bucket = (index >>> HALF_BITS) - 1;
  let sub = (index & ((1 << HALF_BITS) - 1)) + (1 << HALF_BITS);
  if (bucket < 0) {
    sub -= 1 << HALF_BITS;
    bucket = 0;
  }
  return sub * 2 ** bucket;
}

const COUNTS_LENGTH = bucketIndex(MAX_TRACKED_US) + 1;

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  /** Messages whose latency was recorded. */
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Records send-to-receive latencies while {@link LatencyRecorder.active} is set. */
export class LatencyRecorder {
  /** Recording happens only inside the measurement window. */
  active = false;
  private readonly counts = new Float64Array(COUNTS_LENGTH);
  private max = 0;

  /** Records `count` messages stamped `stamp` (µs), received at {@link readClock}. */
  record(stamp: number, count: number): void {
    if (!this.active) return;
    let us = readClock.micros - stamp;
    if (us < 1) us = 1;
    else if (us > MAX_TRACKED_US) us = MAX_TRACKED_US;
    if (us > this.max) this.max = us;
    this.counts[bucketIndex(us)] += count;
  }

  /** Percentiles of everything recorded, in ms. */
  summary(): LatencySummary {
    const h = build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_TRACKED_US, numberOfSignificantValueDigits: 3, autoResize: false });
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) if (counts[i]! > 0) h.recordValueWithCount(bucketValue(i), counts[i]!);
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: h.totalCount,
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(this.max),
      mean: ms(h.mean),
    };
  }
}
