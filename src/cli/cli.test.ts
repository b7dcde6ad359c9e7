/**
 * The `volley` binary end to end: each test runs `node bin/volley.js ...` as a child process.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from '../socket/index.js';
import { startEcho, type EchoServer } from './echo.js';

/** dist/cli/cli.test.js → bin/volley.js */
const BIN = fileURLToPath(new URL('../../bin/volley.js', import.meta.url));
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) child.kill('SIGKILL');
});

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `volley ...args`; `finished` resolves when it exits. */
function start(args: string[], stdin?: string): { child: ChildProcess; finished: Promise<Finished>; stdout: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (stdin === undefined) child.stdin!.end();
  else child.stdin!.end(stdin);
  const finished = new Promise<Finished>((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, finished, stdout: () => stdout };
}

function run(args: string[], stdin?: string): Promise<Finished> {
  return start(args, stdin).finished;
}

/** Resolves with the first match of `pattern` in the child's stdout. */
async function waitForOutput(child: ChildProcess, read: () => string, pattern: RegExp): Promise<RegExpExecArray> {
  for (;;) {
    const match = pattern.exec(read());
    if (match) return match;
    const [chunk] = await Promise.race([once(child.stdout!, 'data'), once(child, 'close').then(() => [null])]);
    if (chunk === null) throw new Error(`exited before printing ${pattern}: ${read()}`);
  }
}

describe('volley', () => {
  test('--help lists every command and exits with 0', { timeout: 10_000 }, async () => {
    const result = await run(['--help']);
    assert.equal(result.code, 0);
    for (const command of ['connect', 'echo', 'serve']) assert.match(result.stdout, new RegExp(`^  ${command} `, 'm'));
  });

  test('--version prints the version from package.json', { timeout: 10_000 }, async () => {
    const result = await run(['--version']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^\d+\.\d+\.\d+/);
  });

  test('an unknown command exits with 2 and prints the usage on stderr', { timeout: 10_000 }, async () => {
    const result = await run(['frobnicate']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command 'frobnicate'/);
    assert.match(result.stderr, /Usage: volley <command>/);
    assert.equal(result.stdout, '');
  });

  test('no command at all exits with 2', { timeout: 10_000 }, async () => {
    const result = await run([]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Usage: volley/);
  });

  test('a bad flag exits with 2 and names the flag', { timeout: 10_000 }, async () => {
    const result = await run(['echo', '--frob']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /'--frob'/);
    assert.match(result.stderr, /Usage: volley echo/);
  });

  test('serve refuses an unknown flag with its usage and exits with 2', { timeout: 10_000 }, async () => {
    const result = await run(['serve', '--frob']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--frob/);
  });
});

describe('volley echo', () => {
  test('--help lists every option with its default', { timeout: 10_000 }, async () => {
    const result = await run(['echo', '--help']);
    assert.equal(result.code, 0);
    for (const option of ['--port PORT', '--host HOST', '--no-deflate', '--max-message-size BYTES', '--help']) {
      assert.ok(result.stdout.includes(option), `missing ${option}`);
    }
    assert.match(result.stdout, /default: 9001/);
    assert.match(result.stdout, /default: 127\.0\.0\.1/);
    assert.match(result.stdout, /default: 64 MiB/);
  });

  test('rejects a port that is not a number with exit code 2', { timeout: 10_000 }, async () => {
    const result = await run(['echo', '--port', 'http']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--port must be a port number/);
  });

  test('--port 0 listens on a free port, echoes text and binary, and on SIGTERM closes clients with 1001 and exits 0', { timeout: 15_000 }, async () => {
    const echo = start(['echo', '--port', '0']);
    const [, url] = await waitForOutput(echo.child, echo.stdout, /^volley echo listening on (ws:\/\/127\.0\.0\.1:(\d+))$/m);
    assert.doesNotMatch(url!, /:0$/);

    const ws = new WebSocket(url!);
    const messages: [string, boolean][] = [];
    ws.on('message', (data: Buffer, isBinary: boolean) => messages.push([isBinary ? data.toString('hex') : data.toString(), isBinary]));
    const closed = once(ws, 'close');
    await once(ws, 'open');
    assert.equal(ws.extensions.startsWith('permessage-deflate'), true);
    ws.send('héllo');
    ws.send(Buffer.from([0, 1, 2, 255]));
    while (messages.length < 2) await once(ws, 'message');
    assert.deepEqual(messages, [
      ['héllo', false],
      ['000102ff', true],
    ]);

    echo.child.kill('SIGTERM');
    const [code] = (await closed) as [number];
    assert.equal(code, 1001);
    const result = await echo.finished;
    assert.equal(result.code, 0);
  });

  test('exits with 1 and says so when the port is taken', { timeout: 10_000 }, async () => {
    const busy = await startEcho({ port: 0 });
    try {
      const result = await run(['echo', '--port', String(busy.port)]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /already in use/);
    } finally {
      await busy.close();
    }
  });
});

describe('volley connect', () => {
  let echo: EchoServer | null = null;
  let http: Server | null = null;
  after(async () => {
    await echo?.close();
    http?.closeAllConnections();
    http?.close();
  });

  test('--help lists every option and the prompt commands', { timeout: 10_000 }, async () => {
    const result = await run(['connect', '--help']);
    assert.equal(result.code, 0);
    for (const option of ['--header', '--subprotocol', '--no-deflate', '--origin', '--insecure', '--wait', '/ping', '/close', '/quit']) {
      assert.ok(result.stdout.includes(option), `missing ${option}`);
    }
  });

  test('sends piped lines, prints the echoes with a timestamp and exits 0 after a clean close', { timeout: 10_000 }, async () => {
    echo = await startEcho({ port: 0 });
    const result = await run(['connect', echo.url], 'hello\nworld\n');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^< \[\d\d:\d\d:\d\d\.\d{3}\] hello$/m);
    assert.match(result.stdout, /^< \[\d\d:\d\d:\d\d\.\d{3}\] world$/m);
    assert.match(result.stderr, /^connected \(protocol: none, extensions: permessage-deflate/m);
    assert.match(result.stderr, /^closed 1000$/m);
  });

  test('prints "connection refused" and exits 1 when nothing listens', { timeout: 10_000 }, async () => {
    const port = await closedPort();
    const result = await run(['connect', `ws://127.0.0.1:${port}`]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /connection refused/);
    assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
  });

  test('prints the status and exits 1 when the server answers 404', { timeout: 10_000 }, async () => {
    http = createServer((_req, res) => res.writeHead(404).end('not here'));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    const result = await run(['connect', `ws://127.0.0.1:${port}/nope`]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Unexpected server response: 404/);
  });

  test('rejects an invalid URL with exit code 2', { timeout: 10_000 }, async () => {
    const result = await run(['connect', 'ftp://example.com']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /scheme must be ws or wss/);
  });
});

/** A port on which nothing listens (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
