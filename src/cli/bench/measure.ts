/**
 * What every workload shares: its common options, the measurement window (warm-up, then a fixed duration) and
 * the CPU use of both processes inside it, which tells whether the server or the generator was the limit.
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuPercent, fetchStats, type ServerStats } from './server-stats.js';
import type { Target } from './target.js';

/** Options every workload takes. */
export interface CommonOptions {
  target: Target;
  /** Time to run before measuring, in ms. */
  warmupMs: number;
  /** Length of the measurement window, in ms. */
  durationMs: number;
  /** Handshakes in progress at once while connections are being opened. */
  concurrency: number;
  /** The server's control endpoint (`/stats`), or null. */
  statsUrl: string | null;
}

/** One end of the measurement window. */
export interface WindowMark {
  /** `performance.now()` at the mark. */
  at: number;
  cpu: NodeJS.CpuUsage;
  /** CPU time all processes on the machine used so far, in µs (null where /proc/stat is missing). */
  machine: number | null;
  server: Promise<ServerStats | null>;
}

/** Marks a window edge now; the server's counters are fetched in the background. */
export function mark(statsUrl: string | null): WindowMark {
  return { at: performance.now(), cpu: process.cpuUsage(), machine: machineBusyMicros(), server: fetchStats(statsUrl) };
}

/** Busy CPU time of the whole machine (every field of /proc/stat's `cpu` line but idle and iowait), in µs. */
function machineBusyMicros(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    // user nice system idle iowait irq softirq steal, in USER_HZ (100 per second) ticks.
    return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) * 10_000;
  } catch {
    return null;
  }
}

/** Elapsed time and CPU use of both processes between two marks. */
export interface WindowReport {
  /** Measured seconds. */
  seconds: number;
  /** Generator CPU in % of one core. */
  generatorCpu: number;
  /** Server CPU in % of one core (null without a control endpoint). */
  serverCpu: number | null;
  /**
   * CPU used by every other process on the machine in the window, in % of one core: how much the run competed
   * for the cores (null when unknown).
   */
  otherCpu: number | null;
}

/** Reports the window between `start` and `end`. */
export async function windowReport(start: WindowMark, end: WindowMark): Promise<WindowReport> {
  const ms = end.at - start.at;
  const cpu = end.cpu.user + end.cpu.system - start.cpu.user - start.cpu.system;
  const [s0, s1] = await Promise.all([start.server, end.server]);
  const generatorCpu = Math.round((cpu / (ms * 1000)) * 1000) / 10;
  const serverCpu = cpuPercent(s0, s1, ms);
  let otherCpu: number | null = null;
  if (start.machine !== null && end.machine !== null && serverCpu !== null) {
    const machine = ((end.machine - start.machine) / (ms * 1000)) * 100;
    otherCpu = Math.max(0, Math.round((machine - generatorCpu - serverCpu) * 10) / 10);
  }
  return { seconds: Math.round(ms) / 1000, generatorCpu, serverCpu, otherCpu };
}

/** Runs the warm-up and the window: `begin` at the window's start, `end` at its end. */
export async function measureWindow(options: CommonOptions, begin: () => void, end: () => void): Promise<WindowReport> {
  await sleep(options.warmupMs);
  begin();
  const start = mark(options.statsUrl);
  await sleep(options.durationMs);
  const stop = mark(options.statsUrl);
  end();
  return windowReport(start, stop);
}

/** A per-second rate rounded to a whole number. */
export function perSecond(count: number, seconds: number): number {
  return seconds > 0 ? Math.round(count / seconds) : 0;
}
