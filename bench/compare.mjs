#!/usr/bin/env node
// Side-by-side comparison: `npm run bench:compare [-- options]`.
//
// For each scenario, starts every peer server in turn on the same port (pinned to CPU 0), runs `volley bench`
// against it (pinned to CPU 1), stops the server by PID; peers alternate A B C A B C … for N rounds so slow drift
// on a shared machine spreads over all of them. Writes bench/results/<date>-<scenario>.json (every run) and
// bench/results/<date>-summary.md (median tables with ratios to ws and spreads), and prints the tables.
//
// Options:
//   --quick               1 round, short runs, 1,000 subscribers / 2,000 idle connections (under 3 minutes)
//   --workloads LIST      scenario ids or prefixes, comma-separated (echo, echo-16b-d16, fanout, idle, connect)
//   --peers LIST          peers, comma-separated (volley, volley-hub, ws, ws-nobufferutil, uws, bun, socketio, net-echo)
//   --rounds N            rounds (3; 1 with --quick)
//   --duration S          measurement seconds per run; --warmup S warm-up seconds
//   --port P              port for the servers (19001; the control endpoint uses P+1)
//   --no-pin              do not pin with taskset
//   --out DIR             results directory (bench/results)
//   --self-check          also run the generator against net-echo with D=64 (its ceiling) and report it
//
// Everything stays on 127.0.0.1, every step has a time limit, and only processes started here are stopped.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, release, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { COLUMNS, PEERS, PROFILES, scenarios } from './lib/scenarios.mjs';
import { markdownTable, summarizeScenario } from './lib/table.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const BUN = join(ROOT, 'node_modules/.bin/bun');

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    workloads: { type: 'string' },
    peers: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    port: { type: 'string', default: '19001' },
    'no-pin': { type: 'boolean' },
    out: { type: 'string', default: join(ROOT, 'bench/results') },
    'self-check': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opts.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}

const profile = { ...PROFILES[opts.quick ? 'quick' : 'full'] };
if (opts.rounds) profile.rounds = Number(opts.rounds);
if (opts.duration) profile.duration = Number(opts.duration);
if (opts.warmup) profile.warmup = Number(opts.warmup);
const port = Number(opts.port);
const pin = !opts['no-pin'] && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
if (!opts['no-pin'] && !pin) log('taskset is not available: running unpinned');

let selected = scenarios(profile);
if (opts.workloads) {
  const wanted = opts.workloads.split(',').map((s) => s.trim());
  selected = selected.filter((s) => wanted.some((w) => s.id === w || s.id.startsWith(`${w}-`) || s.workload === w));
}
const peerFilter = opts.peers ? new Set(opts.peers.split(',').map((s) => s.trim())) : null;
for (const s of selected) if (peerFilter) s.peers = s.peers.filter((p) => peerFilter.has(p));
selected = selected.filter((s) => s.peers.length > 0);
if (selected.length === 0) fail('nothing selected');
for (const p of peerFilter ?? []) if (!PEERS[p]) fail(`unknown peer '${p}'`);

// The generator and Volley's server run from a private copy of dist/: other builds may rewrite dist/ meanwhile.
const snapshot = join(ROOT, 'bench', `.snapshot-${process.pid}`);
const children = new Set();
process.on('SIGINT', () => cleanup(130));
process.on('SIGTERM', () => cleanup(143));

const started = new Date();
const stamp = started.toISOString().slice(0, 16).replace(':', '');
const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
  kernel: release(),
  node: process.version,
  bun: spawnSync(BUN, ['--version'], { encoding: 'utf8' }).stdout?.trim() || 'unavailable',
  pinned: pin ? 'server on CPU 0, generator on CPU 1' : 'no',
  loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
};

await main();

async function main() {
  takeSnapshot();
  mkdirSync(opts.out, { recursive: true });
  const total = selected.reduce((sum, s) => sum + s.peers.length * profile.rounds, 0) + (opts['self-check'] ? 1 : 0);
  log(`${selected.length} scenario(s), ${total} run(s), ${profile.rounds} round(s); results in ${opts.out}`);
  let done = 0;
  const sections = [];
  let selfCheck = null;
  if (opts['self-check']) {
    const run = await runOne({ id: 'self-check', mode: 'echo', args: ['echo', '-c', '100', '-s', '16', '-d', '64', '--warmup', '1', '--duration', String(profile.duration)] }, 'net-echo', 0);
    done++;
    selfCheck = run.result?.messagesPerSec ?? null;
    log(`[${done}/${total}] generator self-check vs net-echo (16 B, D=64): ${fmt(selfCheck)} msg/s`);
  }
  for (const scenario of selected) {
    const runs = [];
    for (let round = 1; round <= profile.rounds; round++) {
      for (const peer of scenario.peers) {
        const run = await runOne(scenario, peer, round);
        runs.push(run);
        done++;
        const value = run.result ? pickMetric(run.result, scenario.metric.key) : undefined;
        log(`[${done}/${total}] ${scenario.id} round ${round} ${peer}: ${run.error ? `FAILED (${run.error})` : `${fmt(value)} ${scenario.metric.label}`}${run.summary ? `\n    ${run.summary}` : ''}`);
      }
    }
    const columns = COLUMNS[scenario.workload];
    const rows = summarizeScenario(scenario, runs, columns);
    const table = markdownTable(scenario, rows, columns);
    sections.push(table);
    writeFileSync(
      join(opts.out, `${stamp}-${scenario.id}.json`),
      `${JSON.stringify({ scenario: { ...scenario, peers: scenario.peers }, machine, profile, medians: rows, runs }, null, 2)}\n`,
    );
    process.stdout.write(`\n${table}\n\n`);
  }
  const command = `node bench/compare.mjs ${process.argv.slice(2).join(' ')}`.trim();
  const header = [
    `# Volley benchmark comparison — ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Command: \`${command}\` (${profile.rounds} round(s), warm-up ${profile.warmup} s, ${profile.duration} s measured per run).`,
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory}, Linux ${machine.kernel}; Node ${machine.node}, Bun ${machine.bun}; pinned: ${machine.pinned}.`,
    `Load average at start ${machine.loadavgAtStart.join(' / ')}, at end ${loadavg().map((x) => x.toFixed(2)).join(' / ')} (other work on the machine skews absolute numbers: compare ratios within this run only).`,
    ...(selfCheck !== null ? ['', `Generator self-check: ${fmt(selfCheck)} msg/s against the raw node:net echo (16 B, 100 connections, D=64).`] : []),
    '',
  ].join('\n');
  const markdown = `${header}\n${sections.join('\n\n')}\n`;
  const summaryFile = join(opts.out, `${stamp}-summary.md`);
  writeFileSync(summaryFile, markdown);
  writeFileSync(join(opts.out, 'latest.md'), markdown);
  log(`wrote ${summaryFile}`);
  cleanup(0);
}

/** Starts `peer`, runs the scenario's generator against it, stops it. Never throws. */
async function runOne(scenario, peer, round) {
  const def = PEERS[peer];
  const record = { peer, round, startedAt: new Date().toISOString(), loadavg: loadavg().map((x) => Math.round(x * 100) / 100) };
  let server = null;
  try {
    server = await startServer(peer, def, scenario);
    const file = join(tmpdir(), `volley-bench-${process.pid}-${scenario.id}-${peer}-${round}.json`);
    const args = [...scenario.args, '--url', `ws://127.0.0.1:${port}/`, '--json', file, ...(def.flags ?? [])];
    const limit = generatorLimit(scenario);
    const gen = await runProcess(pinned(1, process.execPath, [join(snapshot, 'dist/cli/bench/index.js'), ...args]), limit);
    record.summary = gen.stderr.trim().split('\n').pop();
    if (gen.code !== 0 || !existsSync(file)) throw new Error(gen.timedOut ? `generator exceeded ${limit / 1000} s` : record.summary || `generator exited with ${gen.code}`);
    record.result = JSON.parse(readFileSync(file, 'utf8')).result;
    rmSync(file, { force: true });
  } catch (error) {
    record.error = error instanceof Error ? error.message : String(error);
  } finally {
    if (server) await stopServer(server);
    record.loadavgAfter = loadavg().map((x) => Math.round(x * 100) / 100);
  }
  return record;
}

function generatorLimit(scenario) {
  const seconds = (name, fallback) => {
    const i = scenario.args.indexOf(name);
    return i === -1 ? fallback : Number(scenario.args[i + 1]);
  };
  // Warm-up + window + opening up to 10,000 connections + draining/closing, with room for a loaded machine.
  return (seconds('--warmup', 2) + seconds('--duration', 10) + seconds('--settle', 3) + 90) * 1000;
}

function pinned(cpu, command, args) {
  return pin ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args];
}

/** Resolves whether something accepts connections on 127.0.0.1:`p`. */
function portTaken(p) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: p });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/** Spawns a peer server (after checking its ports are free) and waits for its READY line. */
async function startServer(peer, def, { mode, nodeArgs = [] }) {
  for (const p of [port, port + 1]) {
    if (await portTaken(p)) throw new Error(`port ${p} is in use by another process (choose another with --port)`);
  }
  const script = join(ROOT, 'bench/servers', def.script);
  const [command, args] =
    def.runtime === 'bun' ? pinned(0, BUN, [script, String(port), mode]) : pinned(0, process.execPath, ['--expose-gc', ...nodeArgs, script, String(port), mode]);
  const child = spawn(command, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VOLLEY_DIST: join(snapshot, 'dist/index.js') },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${peer} did not start within 15 s: ${err.trim().slice(-300)}`));
    }, 15_000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('READY '));
      if (line) {
        clearTimeout(timer);
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({ child, info: JSON.parse(line.slice(6)) });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${peer} exited with ${code} before it was ready: ${err.trim().slice(-300)}`));
    });
  });
}

/** Stops a server by its PID (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
async function stopServer({ child }) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
  // Let the kernel finish tearing down thousands of sockets before the next server binds.
  await new Promise((r) => setTimeout(r, 300));
}

/** Runs a process to completion (killed by PID after `limitMs`), collecting stderr. */
function runProcess([command, args], limitMs) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    let stderr = '';
    let timedOut = false;
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(child.pid, 'SIGKILL');
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stderr, timedOut });
    });
  });
}

function takeSnapshot() {
  const dist = join(ROOT, 'dist');
  if (!existsSync(join(dist, 'cli/bench/index.js'))) fail('dist/cli/bench/index.js is missing: run `npm run build` first');
  for (let attempt = 1; ; attempt++) {
    rmSync(snapshot, { recursive: true, force: true });
    cpSync(dist, join(snapshot, 'dist'), { recursive: true });
    const check = spawnSync(process.execPath, ['-e', `Promise.all([import(${JSON.stringify(join(snapshot, 'dist/index.js'))}), import(${JSON.stringify(join(snapshot, 'dist/cli/bench/index.js'))})]).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); })`], { encoding: 'utf8', timeout: 20_000 });
    if (check.status === 0) return;
    if (attempt === 3) fail(`dist/ does not load: ${check.stderr.trim()}`);
    log('dist/ is being rebuilt; copying it again in 2 s');
    spawnSync('sleep', ['2']);
  }
}

function cleanup(code) {
  for (const child of children) if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  rmSync(snapshot, { recursive: true, force: true });
  process.exit(code);
}

function pickMetric(result, path) {
  let v = result;
  for (const part of path.split('.')) v = v?.[part];
  return v;
}

function fmt(value) {
  return typeof value === 'number' ? (Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : String(value)) : '–';
}

function log(message) {
  process.stderr.write(`${message}\n`);
}

function fail(message) {
  log(`bench:compare: ${message}`);
  rmSync(snapshot, { recursive: true, force: true });
  process.exit(1);
}
