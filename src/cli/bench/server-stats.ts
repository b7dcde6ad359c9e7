/**
 * The control endpoint every benchmark server script exposes (see `bench/servers/common.mjs`):
 * `GET /stats` on the control port (the WebSocket port + 1 by default) answers the server process's memory,
 * CPU time and open connections as JSON; `?gc=1` runs a full garbage collection first.
 *
 * @module
 */

import { get } from 'node:http';

/** What `/stats` answers. */
export interface ServerStats {
  pid: number;
  /** `node`, `bun`, ... */
  runtime: string;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Open WebSocket connections as the server counts them. */
  connections: number;
  /** CPU time used so far, in µs. */
  cpuUser: number;
  cpuSystem: number;
  /** Whether `?gc=1` could collect (node needs --expose-gc). */
  gc: boolean;
}

/** Fetches `/stats` from `url`; resolves null when the server has no control endpoint or does not answer in time. */
export function fetchStats(url: string | null, gc = false, timeoutMs = 5000): Promise<ServerStats | null> {
  if (url === null) return Promise.resolve(null);
  return new Promise((resolve) => {
    const request = get(`${url}${gc ? '?gc=1' : ''}`, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as ServerStats) : null);
        } catch {
          resolve(null);
        }
      });
      res.on('error', () => resolve(null));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(null));
  });
}

/** CPU use between two samples, in % of one core over `elapsedMs`. */
export function cpuPercent(before: ServerStats | null, after: ServerStats | null, elapsedMs: number): number | null {
  if (before === null || after === null || elapsedMs <= 0) return null;
  const used = after.cpuUser + after.cpuSystem - before.cpuUser - before.cpuSystem;
  return Math.round((used / (elapsedMs * 1000)) * 1000) / 10;
}
