/**
 * `idle`: opens K connections that send nothing and reports how much memory the server process needs per
 * connection (RSS, and the JS heap and external memory where the runtime reports them), from its `/stats`
 * endpoint with a full GC before each sample.
 *
 * The figure is the slope between K/2 and K open connections: one-time costs of handling handshakes (parser and
 * buffer pools) land in the first half and cancel out, where a cold baseline would charge them to the connections
 * (about 16 MB on Node: 8 KB per connection at K = 2000). The growth from the cold baseline is reported too.
 *
 * RSS is read {@link RSS_QUIET_MS} after the full GC, not at once: V8 hands the pages that collection freed back
 * to the OS on a background thread, and an RSS read in the same tick still counts them (up to 13 MB, 2.6 KB per
 * connection at K = 10,000, in some runs and not others). The young generation, which V8 grows in steps up to
 * 16 MB per semi-space whenever its heuristics say so (0.2-3.2 KB per connection at K = 10,000, depending on
 * where the steps fall), is pinned by the harness (`bench/lib/scenarios.mjs`), not here.
 *
 * @module
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { BenchClient, openClients, sourceAddress } from './client.js';
import type { CommonOptions } from './measure.js';
import { fetchStats, type ServerStats } from './server-stats.js';

/** Wait between the full GC and the RSS read, in ms (see the module comment). */
export const RSS_QUIET_MS = 1000;

/** Options of {@link runIdle}. */
export interface IdleOptions extends Omit<CommonOptions, 'warmupMs' | 'durationMs'> {
  connections: number;
  /** Wait after each half opened, before sampling, in ms. */
  settleMs: number;
  /** Source addresses to spread connections over. */
  sources: number;
}

/** Memory per connection, in bytes. */
export interface PerConnection {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** The result of an idle run. */
export interface IdleResult {
  connections: number;
  /** Connections the server reported open at the last sample. */
  serverConnections: number;
  /** Seconds it took to open them all. */
  openSeconds: number;
  /** The server before any connection, with K/2 and with K open. */
  baseline: ServerStats;
  half: ServerStats;
  full: ServerStats;
  /** Slope between K/2 and K connections: the marginal memory of one idle connection. */
  perConnection: PerConnection;
  /** Growth from the cold baseline divided by K (includes one-time costs). */
  perConnectionFromBaseline: PerConnection;
  /** Connections lost while idle. */
  connectionsLost: number;
}

/** Runs the idle workload. */
export async function runIdle(options: IdleOptions): Promise<IdleResult> {
  const url = options.statsUrl;
  if (url === null) throw new Error("idle needs the server's /stats endpoint (--stats-url)");
  const sample = async (when: string): Promise<ServerStats> => {
    const stats = await fetchStats(url, true, 15_000);
    if (stats === null) throw new Error(`no answer from ${url} ${when}: idle needs the server's /stats endpoint`);
    await sleep(RSS_QUIET_MS);
    // Heap figures from the collected sample; RSS once the freed pages are gone.
    const quiet = await fetchStats(url, false, 15_000);
    if (quiet === null) throw new Error(`no answer from ${url} ${when}: idle needs the server's /stats endpoint`);
    return { ...stats, rss: quiet.rss };
  };
  const k = options.connections;
  const firstHalf = Math.floor(k / 2);
  let lost = 0;
  const open = (from: number, count: number) =>
    openClients(count, options.concurrency, (i) => {
      return new BenchClient(options.target, {
        index: from + i,
        localAddress: sourceAddress(from + i, options.sources),
        hooks: { close: (_c, error) => void (error !== null && lost++) },
      });
    });

  const baseline = await sample('before connecting');
  const t0 = performance.now();
  const clients = await open(0, firstHalf);
  let openMs = performance.now() - t0;
  await sleep(options.settleMs);
  const half = await sample(`with ${firstHalf} connections`);
  const t1 = performance.now();
  clients.push(...(await open(firstHalf, k - firstHalf)));
  openMs += performance.now() - t1;
  await sleep(options.settleMs);
  const full = await sample(`with ${k} connections`);
  for (const client of clients) client.destroy();

  const slope = (key: keyof PerConnection) => Math.round((full[key] - half[key]) / (k - firstHalf));
  const average = (key: keyof PerConnection) => Math.round((full[key] - baseline[key]) / k);
  const keys: (keyof PerConnection)[] = ['rss', 'heapUsed', 'external', 'arrayBuffers'];
  return {
    connections: k,
    serverConnections: full.connections,
    openSeconds: Math.round(openMs) / 1000,
    baseline,
    half,
    full,
    perConnection: Object.fromEntries(keys.map((key) => [key, slope(key)])) as unknown as PerConnection,
    perConnectionFromBaseline: Object.fromEntries(keys.map((key) => [key, average(key)])) as unknown as PerConnection,
    connectionsLost: lost,
  };
}
