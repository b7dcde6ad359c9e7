/**
 * `connect`: keeps a fixed number of connections in their lifecycle at once — TCP connect, upgrade (and the
 * Socket.IO namespace join), then a closing handshake started by the client, the server closing TCP — and
 * reports completed handshakes per second and connect→open latency.
 *
 * @module
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { BenchClient, sourceAddress, type ClientHooks } from './client.js';
import { LatencyRecorder, type LatencySummary } from './latency.js';
import { measureWindow, perSecond, type CommonOptions, type WindowReport } from './measure.js';

/** Options of {@link runConnect}. */
export interface ConnectOptions extends CommonOptions {
  /** Connections in their lifecycle at once. */
  inFlight: number;
  /** Source addresses to spread connections over (1: let the kernel pick, reusing TIME_WAIT ports on loopback). */
  sources: number;
}

/** The result of a connect run. */
export interface ConnectResult extends WindowReport {
  /** Handshakes completed in the window. */
  handshakes: number;
  handshakesPerSec: number;
  /** TCP connect → open. */
  latency: LatencySummary;
  /** Connections that failed (refused, reset, timed out) during the whole run. */
  failures: number;
  firstError: string | null;
}

/** Runs the connect workload. */
export async function runConnect(options: ConnectOptions): Promise<ConnectResult> {
  const latency = new LatencyRecorder();
  let opened = 0;
  let started = 0;
  let failures = 0;
  let firstError: Error | null = null;
  let running = true;
  let live = 0;

  const hooks: ClientHooks = {
    open(client) {
      opened++;
      latency.record(client.startedAt, 1);
      client.close();
    },
    close(_client, error) {
      live--;
      if (error !== null) {
        failures++;
        firstError ??= error;
        // A server that refuses everything must not turn this into a busy loop.
        if (running) setTimeout(start, 10);
        return;
      }
      if (running) start();
    },
  };
  function start(): void {
    if (!running) return;
    live++;
    const i = started++;
    new BenchClient(options.target, { index: i, localAddress: sourceAddress(i, options.sources), openTimeout: 5000, hooks });
  }
  for (let i = 0; i < options.inFlight; i++) start();

  let opened0 = 0;
  let opened1 = 0;
  const window = await measureWindow(
    options,
    () => {
      opened0 = opened;
      latency.active = true;
    },
    () => {
      opened1 = opened;
      latency.active = false;
      running = false;
    },
  );
  // Let the last closing handshakes finish (bounded by the clients' own close timer).
  const until = performance.now() + 3000;
  while (live > 0 && performance.now() < until) await sleep(20);
  return {
    handshakes: opened1 - opened0,
    handshakesPerSec: perSecond(opened1 - opened0, window.seconds),
    latency: latency.summary(),
    failures,
    firstError: firstError === null ? null : (firstError as Error).message,
    ...window,
  };
}
