/**
 * examples/nginx/volley.conf as shipped, in front of three real `volley serve --redis` nodes: Debian's nginx
 * (started here with a private prefix, pid file and logs, killed afterwards) balances round robin without
 * stickiness, and WebSocket, SSE (SDK streams and subscribe-by-URL) and long-polling clients all work through
 * it, including a polling session whose node is killed (-9): the client reopens and recovers exactly.
 *
 * Skipped with one line when /usr/sbin/nginx or Redis is missing, except with CI=true, where that fails
 * (CI installs nginx: `apt-get install -y nginx`). Nothing is installed here.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { probeRedis } from '../engines/redis/testing/support.js';
import { freePort } from '../test-support/net-testing.js';
import { call, StreamReader } from '../transports/fallback-harness.test.js';
import { api, Cluster, RecoveringClient, tally } from './harness.js';

const NGINX = process.env['NGINX'] ?? '/usr/sbin/nginx';
const EXAMPLE = fileURLToPath(new URL('../../examples/nginx/volley.conf', import.meta.url));

const missing = !existsSync(NGINX) ? `${NGINX} is not installed (apt-get install -y nginx)` : await probeRedis();
if (missing !== undefined && process.env['CI'] === 'true') throw new Error(`${missing}; CI=true requires it`);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The example config with the test's upstream servers and listen address, inside a minimal main config whose
 * every path (pid, logs, temp files) is under `dir`.
 */
function nginxConfig(dir: string, listen: number, upstreams: readonly number[]): string {
  const example = readFileSync(EXAMPLE, 'utf8');
  const servers = upstreams.map((port) => `    server 127.0.0.1:${port} max_fails=2 fail_timeout=5s;`).join('\n');
  const site = example
    .replace(/(upstream volley \{[\s\S]*?)(?:^\s*server \S+:\d+[^\n]*\n)+/m, (_all, head: string) => `${head}${servers}\n`)
    .replace(/^\s*listen 80;$/m, `    listen 127.0.0.1:${listen};`);
  assert.ok(site.includes(`127.0.0.1:${upstreams[0]}`) && site.includes(`listen 127.0.0.1:${listen}`), 'the example still has its upstream and listen lines');
  writeFileSync(join(dir, 'volley.conf'), site);
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    mkdirSync(join(dir, sub));
    chmodSync(join(dir, sub), 0o777); // workers may run as another user than the master
  }
  chmodSync(dir, 0o755);
  return [
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 1024; }',
    'http {',
    `  log_format upstream '$request_method $uri $status $upstream_addr';`,
    `  access_log ${dir}/access.log upstream;`,
    `  client_body_temp_path ${dir}/body;`,
    `  proxy_temp_path ${dir}/proxy;`,
    `  fastcgi_temp_path ${dir}/fastcgi;`,
    `  uwsgi_temp_path ${dir}/uwsgi;`,
    `  scgi_temp_path ${dir}/scgi;`,
    `  include ${dir}/volley.conf;`,
    '}',
    '',
  ].join('\n');
}

/** The worker processes of nginx master `pid` (its children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Stops nginx: SIGTERM (fast shutdown, the master stops its workers), then SIGKILL for whatever is left. */
async function stopNginx(master: ChildProcess): Promise<void> {
  if (master.exitCode !== null || master.signalCode !== null || master.pid === undefined) return;
  const workers = childrenOf(master.pid);
  const exited = new Promise((resolve) => master.once('exit', resolve));
  master.kill('SIGTERM');
  const timer = setTimeout(() => master.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
  for (const worker of workers) {
    try {
      process.kill(worker, 'SIGKILL');
    } catch {
      // Already gone with its master.
    }
  }
}

/** A long-polling client that sends everything to one URL (nginx spreads it over the nodes). */
class PollingClient {
  #nextId = 1;
  readonly inbox: any[] = [];
  constructor(
    readonly url: string,
    readonly sid: string,
  ) {}

  static async open(url: string): Promise<PollingClient> {
    const answer = await call(`${url}/poll/open`, { method: 'POST' });
    assert.equal(answer.status, 200, answer.text);
    return new PollingClient(url, answer.json.sid as string);
  }

  async send(...commands: Array<Record<string, unknown>>): Promise<{ ids: number[]; status: number }> {
    const ids = commands.map(() => this.#nextId++);
    const answer = await call(`${this.url}/poll/send?sid=${this.sid}`, { method: 'POST', body: commands.map((c, i) => ({ id: ids[i], ...c })) });
    return { ids, status: answer.status };
  }

  /** Polls until `match` finds a message; returns it, or the status of a poll that was not 200. */
  async until(match: (message: any) => boolean, ms = 5000): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.inbox.findIndex(match);
      if (index !== -1) return this.inbox.splice(index, 1)[0];
      if (Date.now() > deadline) throw new Error(`no matching message (inbox: ${JSON.stringify(this.inbox)})`);
      const answer = await call(`${this.url}/poll?sid=${this.sid}`, { timeoutMs: 10_000 });
      if (answer.status !== 200) return { status: answer.status };
      this.inbox.push(...(answer.json as unknown[]));
    }
  }
}

describe('three nodes behind nginx (examples/nginx/volley.conf), round robin, no stickiness', { skip: missing ?? false, timeout: 60_000 }, () => {
  let cluster: Cluster;
  let nginx: ChildProcess | undefined;
  let dir: string;
  let url: string;
  const clients: RecoveringClient[] = [];

  before(async () => {
    cluster = await Cluster.start({
      nodes: 3,
      config: {
        namespaces: { default: { historySize: 1000, historyTtlMs: 600_000 } },
        rateLimits: { connection: false },
        fallbacks: { pollTimeoutMs: 2000 },
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'volley-nginx-'));
    const port = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, cluster.nodes.map((node) => node.port)));
    const check = spawnSync(NGINX, ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
    assert.equal(check.status, 0, `nginx -t: ${check.stderr}`);
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 5000;
    for (;;) {
      const health = await fetch(`${url}/healthz`).then((r) => r.status, () => 0);
      if (health === 200) break;
      if (Date.now() > deadline) throw new Error(`nginx did not answer: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
      await sleep(50);
    }
  });

  after(async () => {
    for (const client of clients) client.stop();
    if (nginx !== undefined) await stopNginx(nginx);
    await cluster?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** Which node served each request to `path`, from nginx's access log. */
  function upstreamsOf(path: string): string[] {
    const log = readFileSync(join(dir, 'access.log'), 'utf8');
    return log
      .split('\n')
      .filter((line) => line.split(' ')[1] === path)
      .map((line) => line.split(' ')[3]!);
  }

  test('WebSocket clients are spread over the nodes and all receive what is published through nginx', async (t) => {
    const ws = `${url.replace('http', 'ws')}/ws`;
    const subs = Array.from({ length: 6 }, () => new RecoveringClient({ urls: () => [ws], channel: 'lb:ws' }));
    clients.push(...subs);
    await Promise.all(subs.map((client) => client.start()));
    for (let n = 1; n <= 50; n++) assert.equal((await api(url, 'publish', { channel: 'lb:ws', data: { n } })).status, 200);
    await Promise.all(subs.map((client) => client.reach(50, 5000)));
    const counts = tally(subs, 50);
    assert.deepEqual({ lost: counts.lost, duplicates: counts.duplicates, outOfOrder: counts.outOfOrder }, { lost: 0, duplicates: 0, outOfOrder: 0 });
    const perNode = await Promise.all(
      cluster.nodes.map(async (node) => (await api(node.url, 'channels')).json.channels.find((c: any) => c.channel === 'lb:ws')?.subscribers ?? 0),
    );
    assert.deepEqual(perNode, [2, 2, 2], 'round robin: two sockets per node');
    t.diagnostic(`nginx WebSocket: 6 clients (2 per node) × 50 publications, lost ${counts.lost}, duplicates ${counts.duplicates}`);
  });

  test('SSE through nginx: subscribe-by-URL events arrive unbuffered, and SDK streams take commands via any node', async () => {
    const plain = await StreamReader.open(`${url}/sse?channel=lb:sse`);
    const sdk = await StreamReader.open(`${url}/sse`);
    const sid = JSON.parse((await sdk.event('open')).data!).sid as string;
    for (const [id, command] of [
      [1, { type: 'connect' }],
      [2, { type: 'subscribe', channel: 'lb:sse' }],
    ] as const) {
      // Each POST goes to the next node in turn: at least one of them is relayed to the stream's node.
      const sent = await call(`${url}/sse/send?sid=${sid}`, { method: 'POST', body: [{ id, ...command }] });
      assert.equal(sent.status, 204);
      await sdk.message((m) => m.id === id);
    }
    await sleep(200); // let the plain stream's own subscription settle
    const started = Date.now();
    await api(url, 'publish', { channel: 'lb:sse', data: 'through nginx' });
    const event = await plain.event('publication', 2000);
    assert.equal(JSON.parse(event.data!).data, 'through nginx');
    assert.ok(Date.now() - started < 1000, 'not held in a proxy buffer');
    assert.equal((await sdk.message((m) => m.type === 'publication')).data, 'through nginx');
    const sends = new Set(upstreamsOf('/sse/send'));
    assert.ok(sends.size >= 2, `the sends went to several nodes (${[...sends].join(', ')})`);
    plain.close();
    sdk.close();
  });

  test('long-polling through nginx: open, send and poll land on different nodes; killing the session node → 404 → reopen and recover', async (t) => {
    let client = await PollingClient.open(url);
    const sent = await client.send({ type: 'connect' }, { type: 'subscribe', channel: 'lb:poll' });
    assert.equal(sent.status, 204);
    await client.until((m) => m.id === sent.ids[0]);
    const position = (await client.until((m) => m.id === sent.ids[1])).result;
    for (let n = 1; n <= 5; n++) await api(url, 'publish', { channel: 'lb:poll', data: { n } });
    const got: number[] = [];
    while (got.length < 5) got.push((await client.until((m) => m.type === 'publication')).data.n);
    assert.deepEqual(got, [1, 2, 3, 4, 5]);
    const nodesSeen = new Set([...upstreamsOf('/poll'), ...upstreamsOf('/poll/send'), ...upstreamsOf('/poll/open')]);
    assert.equal(nodesSeen.size, 3, 'requests of one session were served by all three nodes');

    // Kill the node that holds the session; publish more meanwhile.
    const owner = client.sid.split('.')[0]!;
    const index = cluster.nodes.findIndex((node) => node.nodeId === owner);
    cluster.nodes[index]!.kill('SIGKILL');
    await cluster.nodes[index]!.exited;
    for (let n = 6; n <= 10; n++) assert.equal((await api(url, 'publish', { channel: 'lb:poll', data: { n } })).status, 200);
    const lost = await client.until(() => false, 10_000);
    assert.equal(lost.status, 404, 'the session is gone with its node');

    client = await PollingClient.open(url);
    assert.notEqual(client.sid.split('.')[0], owner);
    const again = await client.send({ type: 'connect' }, { type: 'subscribe', channel: 'lb:poll', recover: { epoch: position.epoch, offset: 5 } });
    assert.equal(again.status, 204);
    const recovered = (await client.until((m) => m.id === again.ids[1])).result;
    assert.equal(recovered.recovered, true);
    assert.deepEqual(
      recovered.publications.map((p: any) => p.data.n),
      [6, 7, 8, 9, 10],
    );
    t.diagnostic(`nginx long-polling: node ${owner} killed; 404, reopened on ${client.sid.split('.')[0]}, recovered 5 of 5`);
  });
});
