// What `bench/compare.mjs` runs: the peers (server scripts) and the scenarios (generator arguments, the peers
// that apply, the figure that matters). Durations come from the profile (full or --quick).

/**
 * Peer servers: how to start each one (the harness adds PORT and MODE) and the generator flags that select what
 * it speaks (`--socketio`, `--volley-hub`; none for plain WebSocket).
 */
export const PEERS = {
  volley: { runtime: 'node', script: 'volley.mjs' },
  'volley-hub': { runtime: 'node', script: 'volley-hub.mjs', flags: ['--volley-hub'] },
  ws: { runtime: 'node', script: 'ws.mjs' },
  'ws-nobufferutil': { runtime: 'node', script: 'ws-nobufferutil.mjs' },
  uws: { runtime: 'node', script: 'uws.mjs' },
  bun: { runtime: 'bun', script: 'bun.mjs' },
  socketio: { runtime: 'node', script: 'socketio.mjs', flags: ['--socketio'] },
  'net-echo': { runtime: 'node', script: 'net-echo.mjs' },
};

const ALL_ECHO = ['volley', 'ws', 'uws', 'bun', 'socketio', 'net-echo'];
const BINARY_ECHO = ['volley', 'ws', 'ws-nobufferutil', 'uws', 'bun', 'net-echo'];
const FANOUT = ['volley', 'volley-hub', 'ws', 'uws', 'bun', 'socketio'];

/** Durations (seconds) and sizes of a full run and of --quick. */
export const PROFILES = {
  full: { rounds: 3, warmup: 1, duration: 3, subscribers: 10_000, idle: 10_000, settle: 1 },
  quick: { rounds: 1, warmup: 0.5, duration: 1.5, subscribers: 1000, idle: 4000, settle: 1 },
};

/**
 * Every scenario: `id` (also the results file name), a title, the generator arguments, the peers, the server
 * mode, the metric the table ranks by (`higher` or `lower` is better), and optionally `nodeArgs` for servers that
 * run on Node.
 */
export function scenarios(profile) {
  const timing = ['--warmup', String(profile.warmup), '--duration', String(profile.duration)];
  const echo = (id, title, args, peers = ALL_ECHO) => ({
    id,
    title,
    workload: 'echo',
    mode: 'echo',
    args: ['echo', ...args, ...timing],
    peers,
    metric: { key: 'messagesPerSec', label: 'msg/s', better: 'higher' },
  });
  const n = profile.subscribers;
  return [
    echo('echo-16b-d1', 'echo 16 B text, 100 connections, D=1 (request/response)', ['-c', '100', '-s', '16', '-d', '1']),
    echo('echo-16b-d16', 'echo 16 B text, 100 connections, D=16 (pipelined)', ['-c', '100', '-s', '16', '-d', '16']),
    echo('echo-1k-d16', 'echo 1 KiB text, 100 connections, D=16', ['-c', '100', '-s', '1024', '-d', '16']),
    echo('echo-64k-bin-d2', 'echo 64 KiB binary, 32 connections, D=2', ['-c', '32', '-s', '65536', '--binary', '-d', '2'], BINARY_ECHO),
    {
      id: 'fanout-rate10',
      title: `fanout to ${n.toLocaleString('en-US')} subscribers at 10 msg/s (publish→delivery latency)`,
      workload: 'fanout',
      mode: 'fanout',
      args: ['fanout', '-n', String(n), '--rate', '10', '--concurrency', '256', ...timing.slice(0, 2), '--duration', String(Math.max(profile.duration, 2))],
      peers: FANOUT,
      metric: { key: 'latency.p99', label: 'p99 ms', better: 'lower' },
    },
    {
      id: 'fanout-max',
      title: `fanout to ${n.toLocaleString('en-US')} subscribers, as fast as delivery keeps up (window 8)`,
      workload: 'fanout',
      mode: 'fanout',
      args: ['fanout', '-n', String(n), '--rate', 'max', '--window', '8', '--concurrency', '256', ...timing],
      peers: FANOUT,
      metric: { key: 'deliveriesPerSec', label: 'deliveries/s', better: 'higher' },
    },
    {
      id: 'idle',
      title: `idle: ${profile.idle.toLocaleString('en-US')} open connections, server memory per connection`,
      workload: 'idle',
      mode: 'echo',
      args: ['idle', '-k', String(profile.idle), '--settle', String(profile.settle), '--concurrency', '256'],
      // A fixed young generation (1 MB semi-spaces, V8's starting size): left alone, V8 grows it to 16 MB at a
      // moment of its choosing, and when that falls between K/2 and K it adds 0.2-3.2 KB to one peer's figure.
      nodeArgs: ['--min-semi-space-size=1', '--max-semi-space-size=1'],
      peers: ALL_ECHO,
      metric: { key: 'perConnection.rss', label: 'RSS B/conn', better: 'lower' },
    },
    {
      id: 'connect',
      title: 'connect: 32 connection lifecycles in flight (connect, upgrade, close)',
      workload: 'connect',
      mode: 'echo',
      args: ['connect', '-c', '32', ...timing],
      peers: ALL_ECHO,
      metric: { key: 'handshakesPerSec', label: 'handshakes/s', better: 'higher' },
    },
  ];
}

/**
 * Work per second of server CPU: robust when other processes share the cores (a starved server does less per
 * wall-clock second, not more per CPU second).
 */
const perServerCpuSecond = (key) => (result) => (result.serverCpu > 0 ? result[key] / (result.serverCpu / 100) : undefined);

/** The extra columns each workload shows beside its main figure: [label, path in the result or function]. */
export const COLUMNS = {
  echo: [
    ['p50 ms', 'latency.p50'],
    ['p99 ms', 'latency.p99'],
    ['msg per server CPU-s', perServerCpuSecond('messagesPerSec')],
  ],
  fanout: [
    ['deliveries/s', 'deliveriesPerSec'],
    ['p50 ms', 'latency.p50'],
    ['p99 ms', 'latency.p99'],
    ['p99.9 ms', 'latency.p999'],
    ['undelivered', 'undelivered'],
    ['deliveries per server CPU-s', perServerCpuSecond('deliveriesPerSec')],
  ],
  idle: [
    ['heap B/conn', 'perConnection.heapUsed'],
    ['external B/conn', 'perConnection.external'],
    ['RSS B/conn from cold baseline', 'perConnectionFromBaseline.rss'],
  ],
  connect: [
    ['p50 ms', 'latency.p50'],
    ['p99 ms', 'latency.p99'],
    ['handshakes per server CPU-s', perServerCpuSecond('handshakesPerSec')],
  ],
};
