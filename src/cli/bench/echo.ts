/**
 * `echo`: C connections each keep D messages of S bytes in flight; every reply is answered by a new message in
 * the same write. D=1 is request/response, larger D is pipelining. Reports messages/s (replies) and round-trip
 * latency.
 *
 * @module
 */

import { BenchClient, openClients, type ClientHooks } from './client.js';
import { Op } from './frames.js';
import { LatencyRecorder, readClock, type LatencySummary } from './latency.js';
import { measureWindow, perSecond, type CommonOptions, type WindowReport } from './measure.js';
import { StampedFrames } from './stamped-frames.js';
import { nowMicros } from './stamp.js';
import { buildPayload } from './target.js';

/** Options of {@link runEcho}. */
export interface EchoOptions extends CommonOptions {
  connections: number;
  /** Message size in bytes (the payload; Socket.IO adds its 10-byte event wrapper). */
  size: number;
  binary: boolean;
  /** Messages in flight per connection. */
  depth: number;
}

/** The result of an echo run. */
export interface EchoResult extends WindowReport {
  /** Replies received in the window. */
  messages: number;
  messagesPerSec: number;
  /** Payload bytes received per second. */
  bytesPerSec: number;
  latency: LatencySummary;
  /** Connections lost during the run, and why the first one was. */
  connectionsLost: number;
  firstError: string | null;
}

/** Runs the echo workload. */
export async function runEcho(options: EchoOptions): Promise<EchoResult> {
  const { target, depth } = options;
  const layout = buildPayload(options.size, target.wire);
  const opcode = options.binary ? Op.BINARY : Op.TEXT;
  const latency = new LatencyRecorder();
  let received = 0;
  let sending = false;
  let lost = 0;
  let firstError: Error | null = null;
  const inflight: number[] = [];
  const frames: StampedFrames[] = [];

  const hooks: ClientHooks = {
    read(client, messages) {
      received += messages;
      const i = client.index;
      let n = (inflight[i] = inflight[i]! - messages);
      if (!sending) return;
      n = depth - n;
      if (n > 0) {
        client.write(frames[i]!.build(n, readClock.micros));
        inflight[i] = depth;
      }
    },
    close(_client, error) {
      if (error !== null) {
        lost++;
        firstError ??= error;
      }
    },
  };
  const clients = await openClients(options.connections, options.concurrency, (i) => {
    const client = new BenchClient(target, { index: i, latency, stampOffset: layout.stampOffset, hooks });
    inflight[i] = 0;
    frames[i] = new StampedFrames(opcode, layout, client.key, depth);
    return client;
  });

  sending = true;
  const now = nowMicros();
  clients.forEach((client, i) => {
    client.write(frames[i]!.build(depth, now));
    inflight[i] = depth;
  });
  let startCount = 0;
  const window = await measureWindow(
    options,
    () => {
      startCount = received;
      latency.active = true;
    },
    () => {
      latency.active = false;
      sending = false;
    },
  );
  const messages = received - startCount;
  for (const client of clients) client.destroy();
  return {
    messages,
    messagesPerSec: perSecond(messages, window.seconds),
    bytesPerSec: perSecond(messages * options.size, window.seconds),
    latency: latency.summary(),
    connectionsLost: lost,
    firstError: firstError === null ? null : (firstError as Error).message,
    ...window,
  };
}
