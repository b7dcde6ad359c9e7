/**
 * Latency recording for the load generator: an HDR histogram of microseconds, fed with runs of messages that
 * carry the same send stamp (every frame of one batched write shares its stamp, so a read of 16 replies is
 * usually one `recordValueWithCount`).
 *
 * @module
 */

import { build, type Histogram } from 'hdr-histogram-js';

/** The time of the read being parsed, in µs; set once per read so parsing a batch costs no clock calls. */
export const readClock = { micros: 0 };

/** Largest latency tracked: 60 s (anything slower is recorded as 60 s). */
const MAX_TRACKED_US = 60_000_000;

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
  private readonly histogram: Histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKED_US,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  });

  /** Records `count` messages stamped `stamp` (µs), received at {@link readClock}. */
  record(stamp: number, count: number): void {
    if (!this.active) return;
    let us = readClock.micros - stamp;
    if (us < 1) us = 1;
    else if (us > MAX_TRACKED_US) us = MAX_TRACKED_US;
    this.histogram.recordValueWithCount(us, count);
  }

  /** Percentiles of everything recorded, in ms. */
  summary(): LatencySummary {
    const h = this.histogram;
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: h.totalCount,
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(h.maxValue),
      mean: ms(h.mean),
    };
  }
}
