/**
 * The counters and histograms the hub reports. `http/metrics.ts` implements them with prom-client; the
 * default does nothing, so the hub has no dependency on a metrics library.
 *
 * @module
 */

/** Hub instrumentation points. `ns` is the channel's namespace (`''` for the default namespace). */
export interface HubMetrics {
  connectionOpened(transport: string): void;
  connectionClosed(transport: string): void;
  subscriptionAdded(ns: string): void;
  subscriptionRemoved(ns: string): void;
  /** A command arrived, of `bytes` encoded bytes. */
  commandReceived(type: string, bytes: number): void;
  /** A publication was accepted in a namespace, taking `seconds` from command to broker. */
  published(ns: string, seconds: number): void;
  /** A publication was written to `count` local subscribers, `bytes` in all. */
  delivered(ns: string, count: number, bytes: number): void;
  /** A subscription asked to recover: `recovered` says whether it got everything. */
  recovery(ns: string, recovered: boolean): void;
  /** A gap was reported to a client. */
  gap(ns: string): void;
  /** A rate limit refused a command. */
  rateLimited(scope: string): void;
  /** A slow consumer was disconnected (`disconnect`) or a message to it dropped (`drop`). */
  slowConsumer(policy: string): void;
}

/** Metrics that go nowhere. */
export const noopMetrics: HubMetrics = {
  connectionOpened() {},
  connectionClosed() {},
  subscriptionAdded() {},
  subscriptionRemoved() {},
  commandReceived() {},
  published() {},
  delivered() {},
  recovery() {},
  gap() {},
  rateLimited() {},
  slowConsumer() {},
};
