/**
 * The one human line `volley bench` prints on stderr after a run.
 *
 * @module
 */

import type { ConnectResult } from './connect.js';
import type { EchoResult } from './echo.js';
import type { FanoutResult } from './fanout.js';
import type { IdleResult } from './idle.js';
import type { LatencySummary } from './latency.js';

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const lat = (l: LatencySummary) => `p50 ${l.p50} ms  p99 ${l.p99} ms  p99.9 ${l.p999} ms`;
const cpu = (r: { generatorCpu: number; serverCpu: number | null; otherCpu: number | null }) =>
  `cpu: generator ${r.generatorCpu}%${r.serverCpu === null ? '' : `, server ${r.serverCpu}%`}${r.otherCpu === null ? '' : `, other processes ${r.otherCpu}%`}`;

/** One line: the workload, its main figure, latency and CPU use. */
export function summarize(workload: string, params: Record<string, unknown>, result: object): string {
  const p = Object.entries(params)
    .filter(([key]) => key !== 'warmup')
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(' ');
  switch (workload) {
    case 'echo': {
      const r = result as EchoResult;
      const lostNote = r.connectionsLost > 0 ? `  LOST ${r.connectionsLost} connections (${r.firstError})` : '';
      return `echo ${p}: ${n(r.messagesPerSec)} msg/s  ${lat(r.latency)}  ${cpu(r)}${lostNote}`;
    }
    case 'fanout': {
      const r = result as FanoutResult;
      const lostNote = r.connectionsLost > 0 ? `  LOST ${r.connectionsLost} connections (${r.firstError})` : '';
      return (
        `fanout ${p}: ${n(r.deliveriesPerSec)} deliveries/s (${n(r.publishedPerSec)} published/s)  ${lat(r.latency)}  ` +
        `undelivered ${n(r.undelivered)}  ${cpu(r)}${lostNote}`
      );
    }
    case 'idle': {
      const r = result as IdleResult;
      return (
        `idle ${p}: ${n(r.perConnection.rss)} B RSS/connection, heap ${n(r.perConnection.heapUsed)} B, ` +
        `external ${n(r.perConnection.external)} B (from the cold baseline: ${n(r.perConnectionFromBaseline.rss)} B RSS; ` +
        `server saw ${n(r.serverConnections)}; opened in ${r.openSeconds} s)`
      );
    }
    default: {
      const r = result as ConnectResult;
      return `connect ${p}: ${n(r.handshakesPerSec)} handshakes/s  ${lat(r.latency)}  failures ${r.failures}  ${cpu(r)}`;
    }
  }
}
