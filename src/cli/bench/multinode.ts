/**
 * `multinode`: fan-out across the nodes of one hub. One publisher on the first node publishes stamped messages
 * to one channel (hub `publish` commands over WebSocket, at a fixed rate); N subscribers are spread round robin
 * over every node's WebSocket endpoint. Reports deliveries/s, publish→delivery latency (p50/p99), deliveries
 * missing or out of order, and, with `--redis`, the Redis commands per publication (`INFO commandstats` delta
 * over the window ÷ publications in it) and Redis's CPU; with `--pids`, each node's CPU.
 *
 * Runs on its own (the shared `volley bench` table does not list it yet):
 *
 * ```sh
 * node dist/cli/bench/multinode.js --urls ws://127.0.0.1:8081/ws,ws://127.0.0.1:8082/ws,ws://127.0.0.1:8083/ws \
 *   -n 3000 --rate 100 --redis redis://127.0.0.1:6379
 * ```
 *
 * `bench/multinode.mjs` starts three nodes, runs the scenarios and writes the results.
 *
 * @module
 */

import { readFileSync, realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { UsageError, defineCommand, type CliIo, type CommandSpec, type ParsedArgs } from '../command.js';
import { Op, buildMaskedFrame } from './frames.js';
import { HubConnection } from './hub-connection.js';
import { LatencyRecorder, type LatencySummary } from './latency.js';
import { RedisStats, callsBetween } from './redis-stats.js';
import { STAMP_SIZE, encodeStamp, nowMicros } from './stamp.js';
import { parseTarget } from './target.js';

/** Options of {@link runMultinode}. */
export interface MultinodeOptions {
  /** WebSocket URLs of the nodes; the publisher uses the first. */
  readonly urls: readonly string[];
  readonly subscribers: number;
  /** Publications per second (asked for; `publishedPerSec` says what the window allowed). */
  readonly rate: number;
  /**
   * Most publishes awaiting their reply (a hub session handles one connection's commands in order and ends a
   * connection with more than 256 waiting); when reached, publishing falls behind the rate.
   */
  readonly window: number;
  /** Bytes of each publication's data string (the stamp included). */
  readonly size: number;
  readonly channel: string;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Handshakes in progress at once while subscribers open. */
  readonly concurrency: number;
  /** Redis to read `INFO commandstats` from, or null. */
  readonly redisUrl: string | null;
  /** Node process ids whose CPU to report (Linux /proc), in the order of `urls`. */
  readonly pids: readonly number[];
}

/** The result of a run. */
export interface MultinodeResult {
  nodes: number;
  subscribers: number;
  subscribersPerNode: number[];
  openSeconds: number;
  seconds: number;
  published: number;
  publishedPerSec: number;
  deliveries: number;
  deliveriesPerSec: number;
  /** Publish (generator clock) → delivery latency of deliveries in the window. */
  latency: LatencySummary;
  /** Deliveries still missing 3 s after publishing stopped. */
  undelivered: number;
  /** Deliveries whose offset did not follow the previous one (loss or reordering). */
  outOfOrder: number;
  publishErrors: number;
  connectionsLost: number;
  /** Why the first lost connection ended. */
  firstError: string | null;
  /** Redis commands per publication in the window (script-internal calls included), and by command. */
  redis: { commandsPerPublication: number; callsPerPublication: Record<string, number>; cpuPercent: number } | null;
  /** CPU of each node in the window, % of one core. */
  nodeCpu: number[] | null;
  generatorCpu: number;
}

const DRAIN_MS = 3000;

/** Runs the workload. */
export async function runMultinode(options: MultinodeOptions): Promise<MultinodeResult> {
  const targets = options.urls.map((url) => parseTarget(url, 'volley-hub'));
  const latency = new LatencyRecorder();
  let lost = 0;
  let firstError: string | null = null;
  const onClose = (_c: HubConnection, error: Error | null): void => {
    if (error === null) return;
    lost++;
    firstError ??= `${_c.index < 0 ? 'publisher' : `subscriber ${_c.index}`}: ${error.message}`;
  };

  const t0 = performance.now();
  const subscribers: HubConnection[] = [];
  let next = 0;
  const opener = async (): Promise<void> => {
    while (next < options.subscribers) {
      const i = next++;
      const connection = new HubConnection(targets[i % targets.length]!, i, latency, { close: onClose }, [{ type: 'subscribe', channel: options.channel }]);
      subscribers.push(connection);
      await connection.ready;
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.subscribers) }, opener));
  const openSeconds = Math.round(performance.now() - t0) / 1000;

  let acked = 0;
  let lastOffset = 0;
  let publishErrors = 0;
  const publisher = new HubConnection(targets[0]!, -1, null, {
    close: onClose,
    reply(_c, reply) {
      if (reply.id === 1) return;
      if (reply.error !== undefined) publishErrors++;
      else {
        acked++;
        lastOffset = Math.max(lastOffset, reply.result.offset as number);
      }
    },
  }, []);
  await publisher.ready;
  await sleep(200);

  // One pre-encoded publish command; each send patches the stamp and the id.
  const filler = 'x'.repeat(Math.max(0, options.size - STAMP_SIZE));
  const template = (id: number, stamp: string): Buffer =>
    Buffer.from(`{"id":${id},"type":"publish","channel":${JSON.stringify(options.channel)},"data":"${stamp}${filler}"}`, 'latin1');
  const stampBytes = Buffer.alloc(STAMP_SIZE);
  let published = 0;
  /** Publications the rate called for that the window did not allow. */
  let skipped = 0;
  let id = 1;
  let publishing = true;
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    if (!publishing) return;
    const due = Math.floor(((performance.now() - start) * options.rate) / 1000) + 1 - published - skipped;
    const room = options.window - (published - acked - publishErrors);
    const n = Math.min(due, room);
    if (n > 0) {
      const frames: Buffer[] = [];
      encodeStamp(nowMicros(), stampBytes);
      const stamp = stampBytes.toString('latin1');
      for (let i = 0; i < n; i++) frames.push(buildMaskedFrame(Op.TEXT, template(++id, stamp), publisher.key));
      publisher.write(Buffer.concat(frames));
      published += n;
      skipped += due - n;
    }
    timer = setTimeout(tick, Math.max(0, start + ((published + skipped + 1) * 1000) / options.rate - performance.now()));
  };
  tick();

  await sleep(options.warmupMs);
  const deliveries = (): number => subscribers.reduce((sum, s) => sum + s.publications, 0);
  const redis = options.redisUrl === null ? null : new RedisStats(options.redisUrl);
  const mark = async () => ({
    at: performance.now(),
    published,
    deliveries: deliveries(),
    cpu: process.cpuUsage(),
    nodes: options.pids.map(processCpuSeconds),
    redis: redis === null ? null : await redis.snapshot(),
  });
  latency.active = true;
  const m0 = await mark();
  await sleep(options.durationMs);
  const m1 = await mark();
  latency.active = false;
  publishing = false;
  clearTimeout(timer);

  const drainUntil = performance.now() + DRAIN_MS;
  while (performance.now() < drainUntil && (acked + publishErrors < published || subscribers.some((s) => s.lastOffset < lastOffset))) await sleep(50);
  const undelivered = subscribers.reduce((sum, s) => sum + Math.max(0, lastOffset - s.lastOffset), 0);
  publisher.destroy();
  for (const s of subscribers) s.destroy();
  await redis?.close();

  const seconds = (m1.at - m0.at) / 1000;
  const windowPublished = m1.published - m0.published;
  const calls = m0.redis !== null && m1.redis !== null ? callsBetween(m0.redis, m1.redis) : null;
  const perNode = options.urls.map((_, i) => subscribers.filter((s) => s.index % options.urls.length === i).length);
  const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    nodes: options.urls.length,
    subscribers: options.subscribers,
    subscribersPerNode: perNode,
    openSeconds,
    seconds: round(seconds, 3),
    published: windowPublished,
    publishedPerSec: Math.round(windowPublished / seconds),
    deliveries: m1.deliveries - m0.deliveries,
    deliveriesPerSec: Math.round((m1.deliveries - m0.deliveries) / seconds),
    latency: latency.summary(),
    undelivered,
    outOfOrder: subscribers.reduce((sum, s) => sum + s.gaps, 0),
    publishErrors,
    connectionsLost: lost,
    firstError,
    redis:
      calls === null
        ? null
        : {
            commandsPerPublication: round(calls.total / Math.max(1, windowPublished), 2),
            callsPerPublication: Object.fromEntries(Object.entries(calls.byCommand).map(([k, v]) => [k, round(v / Math.max(1, windowPublished), 2)])),
            cpuPercent: round(((m1.redis!.cpuSeconds - m0.redis!.cpuSeconds) / seconds) * 100),
          },
    nodeCpu: options.pids.length === 0 ? null : m1.nodes.map((cpu, i) => round(((cpu - m0.nodes[i]!) / seconds) * 100)),
    generatorCpu: round(((m1.cpu.user + m1.cpu.system - m0.cpu.user - m0.cpu.system) / 1e6 / seconds) * 100),
  };
}

/** CPU seconds a process used so far (Linux), or NaN. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** One human line for a result. */
export function summarizeMultinode(r: MultinodeResult): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const redis = r.redis === null ? '' : `  redis: ${r.redis.commandsPerPublication} commands/publication, ${r.redis.cpuPercent}% cpu`;
  const nodes = r.nodeCpu === null ? '' : `  nodes cpu: ${r.nodeCpu.join('% / ')}%`;
  const problems = r.undelivered + r.outOfOrder + r.publishErrors + r.connectionsLost > 0 ? `  undelivered ${r.undelivered}, out of order ${r.outOfOrder}, publish errors ${r.publishErrors}, connections lost ${r.connectionsLost}${r.firstError === null ? '' : ` (${r.firstError})`}` : '';
  return (
    `multinode ${r.nodes} nodes, ${n(r.subscribers)} subscribers (${r.subscribersPerNode.join('/')}), ${n(r.publishedPerSec)} pub/s: ` +
    `${n(r.deliveriesPerSec)} deliveries/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms${redis}${nodes}  generator ${r.generatorCpu}%${problems}`
  );
}

const spec: CommandSpec = {
  name: 'volley bench multinode',
  summary: 'Fan-out across the nodes of one hub (publish on the first node, subscribers on every node)',
  synopsis: '--urls WS_URL,WS_URL,… [options]',
  options: {
    urls: { type: 'string', value: 'URLS', description: 'Comma-separated WebSocket URLs of the nodes (ws://HOST:PORT/ws); the publisher uses the first' },
    subscribers: { type: 'string', short: 'n', value: 'N', default: '1000', description: 'Subscriber connections, spread round robin over the nodes' },
    rate: { type: 'string', value: 'R', default: '100', description: 'Publications per second' },
    window: { type: 'string', value: 'N', default: '128', description: 'Most publishes awaiting their reply (below the hub\'s 256); beyond, publishing falls behind the rate' },
    size: { type: 'string', short: 's', value: 'BYTES', default: '32', description: 'Bytes of each publication (at least 8: the stamp)' },
    channel: { type: 'string', value: 'NAME', default: 'bench:multinode', description: 'The channel' },
    redis: { type: 'string', value: 'URL', description: 'Redis to read INFO commandstats from (commands per publication)' },
    pids: { type: 'string', value: 'PIDS', description: "Comma-separated node process ids, to report each node's CPU (Linux)" },
    duration: { type: 'string', value: 'SECONDS', default: '10', description: 'Measurement window' },
    warmup: { type: 'string', value: 'SECONDS', default: '2', description: 'Publishing before measuring' },
    concurrency: { type: 'string', value: 'N', default: '64', description: 'Handshakes at once while opening subscribers' },
    json: { type: 'string', value: 'FILE', description: 'Write the JSON result to FILE instead of stdout' },
  },
  notes: 'The nodes must allow anonymous clients to subscribe and publish, and the publisher must not be rate limited (rateLimits.connection: false).',
};

const command = defineCommand(spec, async (args: ParsedArgs, io: CliIo) => {
  const v = args.values;
  const text = (name: string): string | undefined => (typeof v[name] === 'string' ? (v[name] as string) : undefined);
  const number = (name: string, fallback: number, min = 1): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) throw new UsageError(`--${name} must be a number ≥ ${min}, not '${raw}'`);
    return value;
  };
  const urls = (text('urls') ?? '').split(',').filter((u) => u !== '');
  if (urls.length === 0) throw new UsageError('--urls is required');
  const result = await runMultinode({
    urls,
    subscribers: Math.floor(number('subscribers', 1000)),
    rate: number('rate', 100),
    window: Math.floor(number('window', 128)),
    size: Math.floor(number('size', 32, STAMP_SIZE)),
    channel: text('channel') ?? 'bench:multinode',
    warmupMs: number('warmup', 2, 0) * 1000,
    durationMs: number('duration', 10) * 1000,
    concurrency: Math.floor(number('concurrency', 64)),
    redisUrl: text('redis') ?? null,
    pids: (text('pids') ?? '').split(',').filter((p) => p !== '').map(Number),
  });
  const json = `${JSON.stringify({ tool: 'volley bench', workload: 'multinode', node: process.version, result }, null, 2)}\n`;
  const file = text('json');
  if (file !== undefined) await writeFile(file, json);
  else io.stdout.write(json);
  io.stderr.write(`${summarizeMultinode(result)}\n`);
  return 0;
});

/** Runs `volley bench multinode` with `argv`; resolves to the exit code. */
export function runMultinodeCommand(argv: string[], io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  return command.run(argv, io);
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runMultinodeCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
