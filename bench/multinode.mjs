#!/usr/bin/env node
// Multi-node fan-out: `node bench/multinode.mjs [options]` (build first: npx tsc -p tsconfig.json).
//
// Starts three `volley serve --redis` nodes on one Redis (a key prefix of their own, deleted afterwards), then
// for each scenario runs the `multinode` workload (dist/cli/bench/multinode.js): one publisher on node 1, N
// subscribers spread round robin over the nodes. Also runs each scenario with every subscriber on node 1 alone
// (same Redis engine), so the cost of spreading over nodes is a measured number. Reports deliveries/s,
// publish→delivery p50/p99, Redis commands per publication (INFO commandstats delta ÷ publications, commands
// run inside the append script included), Redis CPU and each node's CPU. Writes
// bench/results/<date>-multinode.json and prints a markdown table.
//
// Options:
//   --redis URL          Redis (default $REDIS_URL or redis://127.0.0.1:6379)
//   --quick              short windows (2 s warm-up + 5 s)
//   --scenarios LIST     ids, comma-separated (default: all; see SCENARIOS below)
//   --out DIR            results directory (bench/results)
//
// Everything stays on 127.0.0.1; the nodes are killed at the end, whatever happens.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const { Cluster } = await import(join(ROOT, 'dist/cluster/harness.js'));

const { values: opts } = parseArgs({
  options: {
    redis: { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    quick: { type: 'boolean' },
    scenarios: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench/results') },
  },
});

/** id, subscribers, publications per second, message size. */
const SCENARIOS = [
  { id: 'n300-r100', subscribers: 300, rate: 100, size: 32 },
  { id: 'n1500-r100', subscribers: 1500, rate: 100, size: 32 },
  { id: 'n3000-r100', subscribers: 3000, rate: 100, size: 32 },
  { id: 'n300-r1000', subscribers: 300, rate: 1000, size: 32 },
];
const chosen = opts.scenarios ? SCENARIOS.filter((s) => opts.scenarios.split(',').includes(s.id)) : SCENARIOS;
const [warmup, duration] = opts.quick ? [2, 5] : [3, 10];

const log = (line) => process.stderr.write(`${line}\n`);

function workload(urls, pids, scenario, channel) {
  const args = [
    join(ROOT, 'dist/cli/bench/multinode.js'),
    '--urls', urls.join(','),
    '--pids', pids.join(','),
    '-n', String(scenario.subscribers),
    '--rate', String(scenario.rate),
    '-s', String(scenario.size),
    '--channel', channel,
    '--redis', opts.redis,
    '--warmup', String(warmup),
    '--duration', String(duration),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), (warmup + duration + 120) * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`multinode exited ${code}: ${err}`));
      log(err.trim());
      resolve(JSON.parse(out).result);
    });
  });
}

const cluster = await Cluster.start({
  nodes: 3,
  redisUrl: opts.redis,
  config: {
    namespaces: { default: { historySize: 100, historyTtlMs: 600_000 } },
    rateLimits: { connection: false },
    websocket: { maxQueueBytes: 4_194_304 },
  },
});
const runs = [];
try {
  const urls = cluster.nodes.map((node) => node.wsUrl);
  const pids = cluster.nodes.map((node) => node.pid);
  log(`3 nodes: ${urls.join(' ')} (Redis ${opts.redis}, prefix ${cluster.prefix}); ${cpus().length} cores, load ${loadavg()[0].toFixed(2)}`);
  for (const scenario of chosen) {
    const spread = await workload(urls, pids, scenario, `bench:${scenario.id}:spread`);
    runs.push({ scenario: scenario.id, layout: '3 nodes', ...scenario, result: spread });
    const single = await workload(urls.slice(0, 1), pids.slice(0, 1), scenario, `bench:${scenario.id}:single`);
    runs.push({ scenario: scenario.id, layout: '1 node', ...scenario, result: single });
  }
} finally {
  await cluster.stop();
}

const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', 'T');
mkdirSync(opts.out, { recursive: true });
const file = join(opts.out, `${stamp}-multinode.json`);
writeFileSync(file, `${JSON.stringify({ node: process.version, cores: cpus().length, cpu: cpus()[0]?.model, warmup, duration, runs }, null, 2)}\n`);

const rows = [
  '| scenario | layout | subscribers | pub/s | deliveries/s | p50 ms | p99 ms | Redis cmds/pub | Redis CPU % | node CPU % | undelivered |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  ...runs.map(({ scenario, layout, result: r }) =>
    `| ${scenario} | ${layout} | ${r.subscribers.toLocaleString('en-US')} (${r.subscribersPerNode.join('/')}) | ${r.publishedPerSec} | ${r.deliveriesPerSec.toLocaleString('en-US')} | ${r.latency.p50} | ${r.latency.p99} | ${r.redis?.commandsPerPublication ?? '–'} | ${r.redis?.cpuPercent ?? '–'} | ${(r.nodeCpu ?? []).join(' / ')} | ${r.undelivered} |`,
  ),
];
process.stdout.write(`${rows.join('\n')}\n\nRedis calls per publication (3 nodes, ${chosen[0]?.id}): ${JSON.stringify(runs[0]?.result.redis?.callsPerPublication)}\nResults: ${file}\n`);
