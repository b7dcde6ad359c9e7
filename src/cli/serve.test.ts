/**
 * `volley serve` as users run it: a child process on a free port that serves the HTTP API and the hub, and
 * drains and exits with 0 on SIGTERM or SIGINT; configuration errors exit with 2, start failures with 1.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { HubClient, http, tempDir } from '../server/harness.test.js';
import { within } from '../test-support/util.js';
import type { CliIo } from './command.js';
import { runServe } from './serve.js';

const T = { timeout: 20_000 };
const SERVE = fileURLToPath(new URL('./serve.js', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/volley.js', import.meta.url));

const children = new Set<ChildProcess>();
const dirs: string[] = [];
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The environment without any VOLLEY_ setting of the machine running the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('VOLLEY_')) env[name] = value;
  return { ...env, ...extra };
}

interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  readonly wsUrl: string;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node <script> [serve] args` in a fresh directory and waits for the listening line. */
async function serve(args: string[], options: { script?: string; env?: Record<string, string> } = {}): Promise<Served> {
  const cwd = tempDir('volley-serve-');
  dirs.push(cwd);
  const script = options.script ?? SERVE;
  const argv = script === BIN ? [script, 'serve', ...args] : [script, ...args];
  const child = spawn(process.execPath, argv, { cwd, env: cleanEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const listening = await within(
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = (): void => {
        const match = /^volley serve listening on (http:\/\/\S+) \(ws: (ws:\/\/\S+)\)$/m.exec(out);
        if (match) resolve(match);
      };
      child.stdout!.on('data', check);
      void exit.then(({ code }) => reject(new Error(`volley serve exited with ${code} before listening: ${err}`)));
    }),
    10_000,
    'the listening line',
  );
  return { child, url: listening[1]!, wsUrl: listening[2]!, stdout: () => out, stderr: () => err, exit };
}

/** Runs a child that is expected to exit by itself; resolves to its code and output. */
function runToExit(args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const cwd = tempDir('volley-serve-');
  dirs.push(cwd);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(cwd, name), content);
  const child = spawn(process.execPath, [SERVE, ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return within(
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.once('exit', (code) => {
        children.delete(child);
        resolve({ code, stdout: out, stderr: err });
      }),
    ),
    10_000,
    'volley serve to exit',
  );
}

/** A CliIo whose output is collected. */
function fakeIo(): { io: CliIo; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { io: { stdin: new PassThrough(), stdout, stderr }, out: () => out, err: () => err };
}

describe('volley serve (child process)', () => {
  test('serves the HTTP API: a publication shows in the history; SIGTERM exits with 0 within 5 s', T, async () => {
    const dataDir = tempDir('volley-data-');
    dirs.push(dataDir);
    const s = await serve(['--port', '0', '--host', '127.0.0.1', '--api-key', 'k', '--data-dir', dataDir]);
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(s.wsUrl, `${s.url.replace('http:', 'ws:')}/ws`);
    const headers = { authorization: 'apikey k' };
    const published = await http(`${s.url}/api/publish`, { method: 'POST', apiKey: null, headers, body: { channel: 'chat:cli', data: { hello: 1 } } });
    assert.equal(published.status, 200, published.text);
    assert.equal(published.json.offset, 1);
    const history = await http(`${s.url}/api/history?channel=chat:cli`, { apiKey: null, headers });
    assert.equal(history.json.epoch, published.json.epoch);
    assert.deepEqual(history.json.publications.map((p: any) => p.data), [{ hello: 1 }]);

    const started = Date.now();
    s.child.kill('SIGTERM');
    const { code } = await within(s.exit, 5000, 'exit after SIGTERM');
    assert.equal(code, 0, s.stderr());
    assert.ok(Date.now() - started < 5000);
    const logs = s.stdout().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
    assert.ok(logs.some((entry) => entry.msg === 'listening'), 'pino JSON logs on stdout');
    assert.ok(logs.some((entry) => entry.msg === 'stopped'));
    assert.ok(!s.stdout().includes('"apiKey":"k"'), 'the API key is not logged');
  });

  test('on SIGTERM, connected clients get 1001 with reconnect advice before the exit', T, async () => {
    const s = await serve(['--port', '0', '--host', '127.0.0.1', '--memory', '--allow-anonymous', '--log-level', 'warn']);
    const { client } = await HubClient.connect(s.wsUrl);
    s.child.kill('SIGTERM');
    const push = await client.nextPush((p) => p.type === 'disconnect');
    assert.equal(push.code, 1001);
    assert.equal(push.reconnect, true);
    assert.equal((await within(client.closed, 3000, 'the close')).code, 1001);
    assert.equal((await within(s.exit, 5000, 'exit')).code, 0);
  });

  test('SIGINT drains and exits with 0 too', T, async () => {
    const s = await serve(['--port', '0', '--host', '127.0.0.1', '--memory', '--log-level', 'silent']);
    s.child.kill('SIGINT');
    assert.equal((await within(s.exit, 5000, 'exit after SIGINT')).code, 0);
  });

  test('serves the status page and health check', T, async () => {
    const s = await serve(['--port', '0', '--host', '127.0.0.1', '--memory', '--log-level', 'silent']);
    assert.deepEqual((await http(`${s.url}/healthz`, { apiKey: null })).json, { status: 'ok' });
    assert.match((await http(`${s.url}/`, { apiKey: null })).text, /Volley hub is running/);
    s.child.kill('SIGTERM');
    assert.equal((await within(s.exit, 5000, 'exit')).code, 0);
  });

  test('reads the environment: VOLLEY_API_KEY enables the API', T, async () => {
    const s = await serve(['--port', '0', '--host', '127.0.0.1', '--memory', '--log-level', 'silent'], { env: { VOLLEY_API_KEY: 'from-env' } });
    assert.equal((await http(`${s.url}/api/channels`, { apiKey: 'from-env' })).status, 200);
    s.child.kill('SIGTERM');
    await within(s.exit, 5000, 'exit');
  });

  test('a bad environment variable exits with 2, naming it', T, async () => {
    const result = await runToExit(['--port', '0'], { VOLLEY_PORT: 'eighty' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^volley serve: environment variable VOLLEY_PORT: "port" must be an integer/);
  });

  test('an unknown key in volley.config.json exits with 2, naming the file and the key', T, async () => {
    const result = await runToExit([], {}, { 'volley.config.json': JSON.stringify({ prot: 8080 }) });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /volley\.config\.json: unknown key "prot" \(did you mean "port"\?\)/);
  });

  test('a bad flag value exits with 2', T, async () => {
    const result = await runToExit(['--port', 'http']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /flag --port/);
  });

  test('a --redis URL that is not a Redis URL exits with 2, naming the flag and never the password', T, async () => {
    const result = await runToExit(['--redis', 'redis://user:hunter2@host:700000']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /flag --redis: "redis\.url" is not a Redis URL: bad Redis host/);
    assert.doesNotMatch(result.stderr, /hunter2/);
  });

  test('with --redis, a node id already used on that Redis exits with 1 and says so', T, async (ctx) => {
    const { redisOrSkip, REDIS_URL } = await import('../engines/redis/testing/support.js');
    if (!(await redisOrSkip(ctx))) return;
    const prefix = `vt-serve-${process.pid}:`;
    const args = ['--port', '0', '--host', '127.0.0.1', '--log-level', 'silent', '--redis', REDIS_URL, '--redis-prefix', prefix, '--node-id', 'twin'];
    const s = await serve(args);
    const health = await http(`${s.url}/healthz`, { apiKey: null });
    assert.equal(health.json.nodeId, 'twin');
    assert.equal(health.json.status, 'ok');
    const result = await runToExit(args);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /node id "twin" is already used by another node/);
    s.child.kill('SIGTERM');
    assert.equal((await within(s.exit, 5000, 'exit')).code, 0);
  });

  test('a port in use exits with 1 and says so', T, async () => {
    const s = await serve(['--port', '0', '--host', '127.0.0.1', '--memory', '--log-level', 'silent']);
    const port = new URL(s.url).port;
    const result = await runToExit(['--port', port, '--host', '127.0.0.1', '--memory', '--log-level', 'silent']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /already in use/);
    s.child.kill('SIGTERM');
    await within(s.exit, 5000, 'exit');
  });

  test('bin/volley.js serve runs the same command', T, async (ctx) => {
    const help = await within(
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'serve', '--help'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
        child.once('exit', () => resolve(text));
      }),
      5000,
      'volley serve --help',
    );
    assert.match(help, /--api-key/);
    const s = await serve(['--port', '0', '--host', '127.0.0.1', '--memory', '--log-level', 'silent', '--api-key', 'k'], { script: BIN });
    assert.equal((await http(`${s.url}/api/channels`, { apiKey: 'k' })).status, 200);
    s.child.kill('SIGTERM');
    assert.equal((await within(s.exit, 5000, 'exit')).code, 0);
  });
});

describe('runServe', () => {
  test('--help lists every option with its default and environment variable', async () => {
    const fake = fakeIo();
    assert.equal(await runServe(['--help'], fake.io), 0);
    const help = fake.out();
    for (const [flag, env, fallback] of [
      ['--port PORT', 'VOLLEY_PORT', 'default: 8080'],
      ['--host HOST', 'VOLLEY_HOST', 'default: 0.0.0.0'],
      ['--api-key KEY', 'VOLLEY_API_KEY', 'default: none'],
      ['--allow-anonymous', 'VOLLEY_ALLOW_ANONYMOUS', 'default: false'],
      ['--config FILE', 'VOLLEY_CONFIG', 'default: ./volley.config.json if present'],
      ['--data-dir DIR', 'VOLLEY_DATA_DIR', 'default: ./volley-data'],
      ['--memory', 'VOLLEY_HISTORY=memory', 'default: false'],
      ['--log-level LEVEL', 'VOLLEY_LOG_LEVEL', 'default: info'],
      ['--redis URL', 'VOLLEY_REDIS_URL', 'default: none: a single node'],
      ['--redis-prefix PREFIX', 'VOLLEY_REDIS_PREFIX', 'default: volley:'],
      ['--node-id ID', 'VOLLEY_NODE_ID', 'default: random'],
    ] as const) {
      const line = help.split('\n').find((l) => l.includes(flag));
      assert.ok(line, `${flag} listed`);
      assert.ok(line.includes(env), `${flag} names ${env}`);
      assert.ok(line.includes(fallback), `${flag} shows ${fallback}`);
    }
    for (const env of ['VOLLEY_TOKEN_HMAC_SECRET', 'VOLLEY_TOKEN_PUBLIC_KEY', 'VOLLEY_TOKEN_JWKS_URL', 'VOLLEY_ALLOWED_ORIGINS']) {
      assert.ok(help.includes(env), env);
    }
  });

  test('an unknown option is a usage error (2)', async () => {
    const fake = fakeIo();
    assert.equal(await runServe(['--prot', '1'], fake.io), 2);
    assert.match(fake.err(), /Unknown option '--prot'/);
  });
});
