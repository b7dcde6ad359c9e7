/**
 * Redis's side of a multi-node run: `INFO commandstats` (calls per command, including those a Lua script
 * makes) and the server's CPU time, read at both ends of the measurement window.
 *
 * @module
 */

import { createRedisClients, type RedisClients } from '../../engines/redis/connection.js';

/** Calls per command (`evalsha`, `publish`, `xadd`, …), and Redis's CPU seconds so far. */
export interface RedisSnapshot {
  readonly calls: ReadonlyMap<string, number>;
  readonly cpuSeconds: number;
}

/** Commands the measurement itself sends; not counted. */
const OWN = new Set(['info']);

/** Reads snapshots from one Redis. */
export class RedisStats {
  readonly #clients: RedisClients;

  constructor(url: string) {
    this.#clients = createRedisClients(url, { prefix: 'bench-stats', onError: () => {} });
  }

  async snapshot(): Promise<RedisSnapshot> {
    const text = (await this.#clients.command.call('read stats', 'INFO', ['all'])) as string;
    const calls = new Map<string, number>();
    let cpuSeconds = 0;
    for (const line of text.split('\r\n')) {
      const stat = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
      if (stat !== null && !OWN.has(stat[1]!)) calls.set(stat[1]!, Number(stat[2]));
      const cpu = /^used_cpu_(sys|user):([\d.]+)$/.exec(line);
      if (cpu !== null) cpuSeconds += Number(cpu[2]);
    }
    return { calls, cpuSeconds };
  }

  close(): Promise<void> {
    return this.#clients.close();
  }
}

/** Calls per command between two snapshots, largest first, and their sum. */
export function callsBetween(start: RedisSnapshot, end: RedisSnapshot): { total: number; byCommand: Record<string, number> } {
  const rows: Array<[string, number]> = [];
  for (const [command, calls] of end.calls) {
    const delta = calls - (start.calls.get(command) ?? 0);
    if (delta > 0) rows.push([command, delta]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  return { total: rows.reduce((sum, [, n]) => sum + n, 0), byCommand: Object.fromEntries(rows) };
}
