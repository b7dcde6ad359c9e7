/**
 * `volley bench <workload>`: a WebSocket load generator that is never the bottleneck. Raw `node:net` connections
 * do their own handshake; message frames are masked once and reused; sends are pipelined in large writes; replies
 * are counted from frame headers alone, with latency from a send stamp carried in each payload (HDR histogram).
 *
 * Workloads: `echo`, `fanout`, `idle`, `connect` (see `docs/benchmarks.md`). Besides plain WebSocket messages the
 * generator speaks Socket.IO (`--socketio`) and, for `fanout`, Volley's hub protocol (`--volley-hub`: one channel,
 * `publish` commands, `publication` pushes). The result is JSON on stdout (or
 * `--json FILE`) and one human line on stderr. The module also runs on its own:
 * `node dist/cli/bench/index.js echo -c 100 -d 16`.
 *
 * @example
 * ```ts
 * process.exitCode = await runBench(['echo', '--url', 'ws://127.0.0.1:9001', '-c', '100', '-s', '16', '-d', '16']);
 * ```
 *
 * @module
 */

import { realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { UsageError, defineCommand, parseByteSize, type CliIo, type CommandSpec, type Command, type ParsedArgs } from '../command.js';
import { runConnect } from './connect.js';
import { runEcho } from './echo.js';
import { runFanout } from './fanout.js';
import { runIdle } from './idle.js';
import type { CommonOptions } from './measure.js';
import { parseTarget, type Wire } from './target.js';
import { summarize } from './summary.js';

const WORKLOADS = ['echo', 'fanout', 'idle', 'connect'] as const;
type Workload = (typeof WORKLOADS)[number];

const spec: CommandSpec = {
  name: 'volley bench',
  summary: 'Load-test a WebSocket server (echo, fanout, idle, connect)',
  synopsis: '<workload> [options]',
  positionals: [{ name: 'workload', description: 'echo | fanout | idle | connect' }],
  options: {
    url: { type: 'string', value: 'URL', default: 'ws://127.0.0.1:9001/', description: 'Server to load' },
    socketio: { type: 'boolean', description: 'Speak Socket.IO 4 (engine.io v4 over WebSocket, event "m")' },
    'volley-hub': { type: 'boolean', description: "fanout: speak Volley's hub protocol (JSON; subscribe to and publish on channel 'bench'; URL path /ws unless given)" },
    connections: { type: 'string', short: 'c', value: 'N', description: 'echo: connections (100); connect: connections in flight (32)' },
    size: { type: 'string', short: 's', value: 'BYTES', description: 'Message size, at least 8 (echo 16, fanout 32)' },
    binary: { type: 'boolean', description: 'Send binary messages instead of text' },
    depth: { type: 'string', short: 'd', value: 'N', default: '1', description: 'echo: messages in flight per connection' },
    subscribers: { type: 'string', short: 'n', value: 'N', default: '1000', description: 'fanout: subscriber connections' },
    rate: { type: 'string', value: 'R|max', default: 'max', description: 'fanout: messages published per second, or as fast as delivery keeps up' },
    window: { type: 'string', value: 'N', default: '8', description: 'fanout --rate max: messages not yet delivered to everyone' },
    'idle-connections': { type: 'string', short: 'k', value: 'N', default: '10000', description: 'idle: connections to open' },
    settle: { type: 'string', value: 'SECONDS', default: '3', description: 'idle: wait after opening, before sampling' },
    duration: { type: 'string', value: 'SECONDS', default: '10', description: 'Measurement window' },
    warmup: { type: 'string', value: 'SECONDS', default: '2', description: 'Load before measuring' },
    concurrency: { type: 'string', value: 'N', default: '128', description: 'Handshakes at once while opening connections' },
    sources: { type: 'string', value: 'N', description: 'Spread connections over 127.0.0.1..N (default: 1 per 25000 connections)' },
    'stats-url': { type: 'string', value: 'URL|none', description: "Server's control endpoint (default http://HOST:PORT+1/stats)" },
    json: { type: 'string', value: 'FILE', description: 'Write the JSON result to FILE instead of stdout' },
  },
  notes: [
    'Examples:',
    '  volley bench echo -c 100 -s 16 -d 16 --duration 10',
    '  volley bench echo -c 32 -s 64KiB --binary -d 2',
    '  volley bench fanout -n 10000 --rate 10',
    '  volley bench idle -k 10000',
    '  volley bench connect -c 32',
    '  volley bench echo --socketio --url ws://127.0.0.1:9001',
    '  volley bench fanout --volley-hub -n 10000 --rate 10 --url ws://127.0.0.1:8080/ws',
    '',
    'Servers for comparison live in bench/servers/; `npm run bench:compare` runs them all (docs/benchmarks.md).',
  ].join('\n'),
};

/** `volley bench` as a CLI command (for the `volley` command table). */
export const benchCommand: Command = defineCommand(spec, (args, io) => bench(args, io));

const processIo: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

/**
 * Runs `volley bench` with `argv` (the arguments after `bench`) and resolves to the exit code: 0 done, 1 failed,
 * 2 usage error.
 */
export function runBench(argv: string[], io: CliIo = processIo): Promise<number> {
  return benchCommand.run(argv, io);
}

async function bench(args: ParsedArgs, io: CliIo): Promise<number> {
  const workload = args.positionals[0] as Workload;
  if (!WORKLOADS.includes(workload)) throw new UsageError(`unknown workload '${workload}' (echo, fanout, idle or connect)`);
  const v = args.values;
  const url = str(v.url) ?? 'ws://127.0.0.1:9001/';
  const socketio = v.socketio === true;
  const volleyHub = v['volley-hub'] === true;
  const binary = v.binary === true;
  if (socketio && volleyHub) throw new UsageError('--socketio and --volley-hub exclude each other');
  if (socketio && binary) throw new UsageError('--binary is not supported with --socketio (Socket.IO sends binary as attachments)');
  if (volleyHub && binary) throw new UsageError('--binary is not supported with --volley-hub (the generator speaks the JSON encoding)');
  if (volleyHub && workload !== 'fanout') throw new UsageError('--volley-hub runs the fanout workload only');
  const wire: Wire = socketio ? 'socketio' : volleyHub ? 'volley-hub' : 'websocket';
  const target = parseTarget(url, wire);
  const statsOption = str(v['stats-url']);
  const statsUrl = statsOption === 'none' ? null : (statsOption ?? `http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port + 1}/stats`);
  const common: CommonOptions = {
    target,
    warmupMs: seconds(v.warmup, '--warmup', 2),
    durationMs: seconds(v.duration, '--duration', 10),
    concurrency: count(v.concurrency, '--concurrency', 128),
    statsUrl,
  };
  const sources = v.sources === undefined ? undefined : count(v.sources, '--sources', 1);
  if (sources !== undefined && sources > 254) throw new UsageError('--sources must be at most 254 (127.0.0.1 to 127.0.0.254)');
  const autoSources = (connections: number) => sources ?? Math.max(1, Math.ceil(connections / 25_000));

  let params: Record<string, unknown>;
  let result: object;
  const started = new Date();
  switch (workload) {
    case 'echo': {
      const o = {
        ...common,
        connections: count(v.connections, '--connections', 100),
        size: size(v.size, 16),
        binary,
        depth: count(v.depth, '--depth', 1),
      };
      params = { connections: o.connections, size: o.size, binary, depth: o.depth };
      result = await runEcho(o);
      break;
    }
    case 'fanout': {
      const subscribers = count(v.subscribers, '--subscribers', 1000);
      const rateText = str(v.rate) ?? 'max';
      const rate = rateText === 'max' ? 'max' : positive(rateText, '--rate');
      const o = { ...common, subscribers, size: size(v.size, 32), binary, rate, window: count(v.window, '--window', 8), sources: autoSources(subscribers) } as const;
      params = { subscribers, size: o.size, binary, rate, window: o.window };
      result = await runFanout(o);
      break;
    }
    case 'idle': {
      const k = count(v['idle-connections'], '--idle-connections', 10_000);
      const o = { ...common, connections: k, settleMs: seconds(v.settle, '--settle', 3), sources: autoSources(k) };
      params = { connections: k, settle: o.settleMs / 1000, sources: o.sources };
      result = await runIdle(o);
      break;
    }
    case 'connect': {
      const o = { ...common, inFlight: count(v.connections, '--connections', 32), sources: sources ?? 1 };
      params = { inFlight: o.inFlight, sources: o.sources };
      result = await runConnect(o);
      break;
    }
  }
  const report = {
    tool: 'volley bench',
    workload,
    url,
    socketio,
    wire,
    params: workload === 'idle' ? params : { ...params, warmup: common.warmupMs / 1000, duration: common.durationMs / 1000 },
    startedAt: started.toISOString(),
    node: process.version,
    result,
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const file = str(v.json);
  if (file !== undefined) await writeFile(file, json);
  else io.stdout.write(json);
  io.stderr.write(`${summarize(workload, report.params, result)}\n`);
  return 0;
}

function str(value: ParsedArgs['values'][string]): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function count(value: ParsedArgs['values'][string], option: string, fallback: number): number {
  const text = str(value);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) throw new UsageError(`${option} must be a positive integer, not '${text}'`);
  return Number(text);
}

function positive(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${option} must be a positive number or 'max', not '${text}'`);
  return n;
}

function seconds(value: ParsedArgs['values'][string], option: string, fallback: number): number {
  const text = str(value);
  if (text === undefined) return fallback * 1000;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${option} must be a number of seconds, not '${text}'`);
  return Math.round(n * 1000);
}

function size(value: ParsedArgs['values'][string], fallback: number): number {
  const text = str(value);
  return text === undefined ? fallback : parseByteSize(text, '--size');
}

// Runnable on its own: `node dist/cli/bench/index.js echo ...`.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runBench(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
