/**
 * `fanout`: N subscriber connections and one publisher. The publisher sends messages that the server broadcasts
 * to every other connection, either at a fixed rate (open loop: latency includes any queueing the server causes)
 * or as fast as delivery keeps up (`max`: at most `window` messages not yet delivered to every subscriber).
 * Reports deliveries/s and publish→delivery latency.
 *
 * Against Volley's hub (`--volley-hub`) the same happens through one channel: subscribers send `connect` and
 * `subscribe` and count as open once both are answered; the publisher sends `publish` commands carrying the
 * stamp at the start of `data`; a delivery is a `publication` push. The publisher keeps fewer than
 * {@link HUB_MAX_UNANSWERED} publishes unanswered (the hub ends a connection with more than 256), and a publish
 * the hub refuses is not expected at any subscriber.
 *
 * @module
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { BenchClient, openClients, sourceAddress, type ClientHooks } from './client.js';
import { Op } from './frames.js';
import { LatencyRecorder, type LatencySummary } from './latency.js';
import { measureWindow, perSecond, type CommonOptions, type WindowReport } from './measure.js';
import { StampedFrames } from './stamped-frames.js';
import { nowMicros } from './stamp.js';
import { buildPayload } from './target.js';

/** Options of {@link runFanout}. */
export interface FanoutOptions extends CommonOptions {
  subscribers: number;
  size: number;
  binary: boolean;
  /** Messages published per second, or `max`. */
  rate: number | 'max';
  /** In `max` mode: messages published but not yet delivered to every subscriber. */
  window: number;
  /** Source addresses to spread subscribers over. */
  sources: number;
}

/** The result of a fanout run. */
export interface FanoutResult extends WindowReport {
  subscribers: number;
  /** Seconds it took to open the subscribers. */
  openSeconds: number;
  /** Messages published in the window. */
  published: number;
  publishedPerSec: number;
  /** Messages delivered to subscribers in the window. */
  deliveries: number;
  deliveriesPerSec: number;
  /** Messages published over the whole run (warm-up and window). */
  totalPublished: number;
  /** Messages delivered over the whole run (warm-up, window and drain). */
  totalDeliveries: number;
  /** Publishes the server refused (hub mode: error replies; they are expected nowhere). */
  refused: number;
  /** Publish→delivery latency of deliveries in the window. */
  latency: LatencySummary;
  /** Deliveries still missing 3 s after publishing stopped (dropped by the server, or still queued). */
  undelivered: number;
  connectionsLost: number;
  firstError: string | null;
}

/** Longest wait for the last deliveries after publishing stops. */
const DRAIN_MS = 3000;
/** The publisher stops writing while this much is queued in the generator (the server is not reading). */
const PUBLISHER_MAX_QUEUED = 16 * 1024 * 1024;
/** Hub mode: most publishes awaiting their reply (the hub ends a connection with more than 256). */
export const HUB_MAX_UNANSWERED = 200;

/** Runs the fanout workload. */
export async function runFanout(options: FanoutOptions): Promise<FanoutResult> {
  const { target, subscribers: count } = options;
  const layout = buildPayload(options.size, target.wire);
  const hub = target.wire === 'volley-hub';
  const latency = new LatencyRecorder();
  const maxMode = options.rate === 'max';
  let deliveries = 0;
  let expected = 0;
  let published = 0;
  let answered = 0;
  let refused = 0;
  let publishing = false;
  let lost = 0;
  let firstError: Error | null = null;
  const got = new Float64Array(count);
  let pumpScheduled = false;

  const noteLoss = (error: Error | null): void => {
    if (error === null) return;
    lost++;
    firstError ??= error;
  };
  const subscriberHooks: ClientHooks = {
    read(client, messages) {
      deliveries += messages;
      got[client.index]! += messages;
      if (maxMode && publishing && !pumpScheduled) {
        pumpScheduled = true;
        setImmediate(pump);
      }
    },
    close(client, error) {
      if (error === null) return;
      noteLoss(error);
      // Whatever this subscriber had not received will never come.
      expected -= published - got[client.index]!;
    },
  };
  const t0 = performance.now();
  const subscribers = await openClients(count, options.concurrency, (i) => {
    return new BenchClient(target, {
      index: i,
      latency,
      stampOffset: layout.stampOffset,
      localAddress: sourceAddress(i, options.sources),
      hooks: subscriberHooks,
      subscribe: hub,
    });
  });
  const publisher = new BenchClient(target, {
    hooks: {
      close: (_c, error) => noteLoss(error),
      reply(_c, reply) {
        answered++;
        if (reply.ok) return;
        refused++;
        firstError ??= new Error(`the hub refused a publish: ${reply.code}`);
        expected -= count - lost;
      },
    },
  });
  await publisher.ready;
  const openSeconds = Math.round(performance.now() - t0) / 1000;
  let alive = count;
  const batch = Math.max(options.window, 64);
  const frames = new StampedFrames(options.binary ? Op.BINARY : Op.TEXT, layout, publisher.key, batch);
  // Let every server finish registering the last subscribers (topic subscriptions, rooms).
  await sleep(200);

  /** Hub mode: publishes that may be sent now without too many unanswered; otherwise unlimited. */
  const room = (): number => (hub ? HUB_MAX_UNANSWERED - (published - answered) : Infinity);
  const publish = (n: number): void => {
    const now = nowMicros();
    alive = count - lost;
    while (n > 0) {
      const b = Math.min(n, batch);
      publisher.write(frames.build(b, now));
      published += b;
      expected += b * alive;
      n -= b;
    }
  };
  function pump(): void {
    pumpScheduled = false;
    if (!publishing) return;
    const outstanding = Math.ceil((expected - deliveries) / Math.max(1, alive));
    const n = Math.min(options.window - outstanding, room());
    if (n > 0) publish(n);
  }

  publishing = true;
  let timer: NodeJS.Timeout | null = null;
  if (maxMode) {
    pump();
    // In case a delivery never comes (a dropped message), keep the pump going.
    timer = setInterval(pump, 200);
  } else {
    const rate = options.rate as number;
    const start = performance.now();
    let scheduled = 0;
    const tick = (): void => {
      if (!publishing) return;
      const due = Math.floor(((performance.now() - start) * rate) / 1000) + 1 - scheduled;
      if (due > 0) {
        scheduled += due;
        // A publish the queue or the reply window has no room for is skipped, not sent late.
        const n = publisher.writableLength < PUBLISHER_MAX_QUEUED ? Math.min(due, room()) : 0;
        if (n > 0) publish(n);
      }
      const next = start + (scheduled * 1000) / rate;
      timer = setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  }

  let deliveries0 = 0;
  let published0 = 0;
  let deliveries1 = 0;
  let published1 = 0;
  const window = await measureWindow(
    options,
    () => {
      deliveries0 = deliveries;
      published0 = published;
      latency.active = true;
    },
    () => {
      latency.active = false;
      deliveries1 = deliveries;
      published1 = published;
      publishing = false;
      if (timer !== null) {
        clearTimeout(timer);
        clearInterval(timer);
      }
    },
  );
  const drainUntil = performance.now() + DRAIN_MS;
  // In hub mode a refusal lowers `expected` when its reply arrives: wait for every reply too.
  while ((deliveries < expected || (hub && answered < published)) && performance.now() < drainUntil) await sleep(50);
  const undelivered = Math.max(0, expected - deliveries);
  publisher.destroy();
  for (const s of subscribers) s.destroy();
  return {
    subscribers: count,
    openSeconds,
    published: published1 - published0,
    publishedPerSec: perSecond(published1 - published0, window.seconds),
    deliveries: deliveries1 - deliveries0,
    deliveriesPerSec: perSecond(deliveries1 - deliveries0, window.seconds),
    totalPublished: published,
    totalDeliveries: deliveries,
    refused,
    latency: latency.summary(),
    undelivered,
    connectionsLost: lost,
    firstError: firstError === null ? null : (firstError as Error).message,
    ...window,
  };
}
