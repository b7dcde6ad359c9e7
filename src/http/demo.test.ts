/**
 * `/volley-client.js` (the SDK's browser bundle) and `/demo/chat` (the chat demo): what is served, with which
 * headers, what answers 404 and why, and that the page's files all exist and type-check against the SDK.
 * The demo running in a browser is tested in browser-tests/.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { http, startTestServer, tempDir, type TestServer } from '../server/harness.test.js';
import { createDemoHandler, PACKAGE_CHAT_DIR } from './demo.js';

const T = { timeout: 10_000 };
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A server with only the demo handler (404 "unhandled" for the rest), over the given folders. */
async function demoServer(options: Parameters<typeof createDemoHandler>[0]): Promise<{ url: string; close(): Promise<void> }> {
  const handler = createDemoHandler(options);
  const server: Server = createServer((req, res) => {
    if (!handler(req, res)) {
      res.writeHead(418);
      res.end('unhandled');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const get = (url: string, method = 'GET') => http(url, { method, apiKey: null });

describe('with a built bundle', () => {
  const dir = tempDir('volley-demo-');
  const bundleDir = join(dir, 'browser');
  let s: Awaited<ReturnType<typeof demoServer>>;
  before(async () => {
    mkdirSync(bundleDir);
    writeFileSync(join(bundleDir, 'volley-client.js'), 'export class Volley {}\n//# sourceMappingURL=volley-client.js.map\n');
    writeFileSync(join(bundleDir, 'volley-client.js.map'), '{"version":3}');
    s = await demoServer({ bundleDir: pathToFileURL(`${bundleDir}/`) });
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('GET /volley-client.js serves the bundle as JavaScript, revalidated and never sniffed', T, async () => {
    const res = await get(`${s.url}/volley-client.js`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.match(res.text, /export class Volley/);
  });

  test('GET /volley-client.js.map serves the source map as JSON', T, async () => {
    const res = await get(`${s.url}/volley-client.js.map`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(res.json, { version: 3 });
  });

  test('a bundle rebuilt while the server runs is served at once', T, async () => {
    writeFileSync(join(bundleDir, 'volley-client.js'), 'export class Volley { rebuilt = true }\n');
    assert.match((await get(`${s.url}/volley-client.js`)).text, /rebuilt/);
  });

  test('HEAD answers the headers without a body; other methods are 405 with Allow', T, async () => {
    const head = await get(`${s.url}/volley-client.js`, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    assert.ok(Number(head.headers['content-length']) > 0);
    const post = await get(`${s.url}/volley-client.js`, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('other URLs are left to the next handler', T, async () => {
    for (const path of ['/', '/volley-client.mjs', '/demo/other', '/demochat', '/api/publish']) {
      assert.equal((await get(`${s.url}${path}`)).status, 418, path);
    }
  });
});

describe('without a built bundle', () => {
  const dir = tempDir('volley-demo-');
  let s: Awaited<ReturnType<typeof demoServer>>;
  before(async () => {
    s = await demoServer({ bundleDir: pathToFileURL(`${dir}/`) });
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('GET /volley-client.js is 404 saying how to build it', T, async () => {
    const res = await get(`${s.url}/volley-client.js`);
    assert.equal(res.status, 404);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.match(res.text, /volley-client\.js is not built: build it with: npm run build \(tsc, then node scripts\/build-browser\.mjs\)/);
  });

  test('the chat page is still served (it says on the page that the SDK did not load)', T, async () => {
    const res = await get(`${s.url}/demo/chat`);
    assert.equal(res.status, 200);
    assert.match(readFileSync(new URL('boot.js', PACKAGE_CHAT_DIR), 'utf8'), /build-browser\.mjs/);
  });
});

describe('the chat demo', () => {
  let s: Awaited<ReturnType<typeof demoServer>>;
  before(async () => {
    s = await demoServer({});
  });
  after(() => s.close());

  test('GET /demo/chat serves the page with a CSP that allows only this origin', T, async () => {
    for (const path of ['/demo/chat', '/demo/chat/']) {
      const res = await get(`${s.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      const csp = String(res.headers['content-security-policy']);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /connect-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(res.text, /<script type="module" src="\/demo\/chat\/chat\.js"><\/script>/);
    }
  });

  test('/demo redirects to /demo/chat', T, async () => {
    for (const path of ['/demo', '/demo/']) {
      const res = await get(`${s.url}${path}`);
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, '/demo/chat');
    }
  });

  test('every script and style the page and its modules reference is served, with its type', T, async () => {
    const page = (await get(`${s.url}/demo/chat`)).text;
    const referenced = new Set([...page.matchAll(/(?:src|href)="(\/demo\/chat\/[^"]+)"/g)].map((m) => m[1]!));
    const seen = new Set<string>();
    while (referenced.size > seen.size) {
      for (const path of [...referenced].filter((p) => !seen.has(p))) {
        seen.add(path);
        const res = await get(`${s.url}${path}`);
        assert.equal(res.status, 200, path);
        assert.equal(res.headers['content-type'], path.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8', path);
        for (const m of res.text.matchAll(/from '\.\/([a-z-]+\.js)'/g)) referenced.add(`/demo/chat/${m[1]}`);
      }
    }
    assert.ok(seen.has('/demo/chat/chat.js') && seen.has('/demo/chat/room.js') && seen.has('/demo/chat/chat.css'), [...seen].join(' '));
    const entry = (await get(`${s.url}/demo/chat/chat.js`)).text;
    assert.match(entry, /import \{ Volley \} from '\/volley-client\.js';/);
  });

  test('names outside the demo are 404, and never reach the file system as paths', T, async () => {
    for (const path of ['/demo/chat/index.html', '/demo/chat/..%2f..%2fpackage.json', '/demo/chat/%2e%2e%2fdemo.js', '/demo/chat/tsconfig.json', '/demo/chat/nope.js', '/demo/chat/.hidden.js']) {
      const res = await get(`${s.url}${path}`);
      assert.equal(res.status, 404, path);
    }
  });
});

describe('in volley serve', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ allowAnonymous: true });
  });
  after(() => t.stop());

  test('/demo/chat is mounted and the status page links to it', T, async () => {
    assert.equal((await get(`${t.url}/demo/chat`)).status, 200);
    assert.match((await get(`${t.url}/`)).text, /<a href="demo\/chat">Chat demo<\/a>/);
  });
});

test("the demo's scripts type-check against the SDK's sources (src/console/tsconfig.json)", { timeout: 120_000 }, async () => {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', join(ROOT, 'src', 'console', 'tsconfig.json')], { cwd: ROOT });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    assert.fail(`tsc -p src/console/tsconfig.json failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
});
