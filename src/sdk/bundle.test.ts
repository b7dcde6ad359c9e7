/**
 * The browser bundle: scripts/build-browser.mjs turns dist/sdk/browser.js into one ES module with no Node
 * built-ins, and that module works (here in Node, with our WebSocket injected, against a real hub).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { WebSocket } from '../socket/index.js';
import { startTestHub, until, type TestHub } from './harness.test.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'volley-bundle-'));
let hub: TestHub | undefined;
after(async () => {
  await hub?.close();
  rmSync(dir, { recursive: true, force: true });
});

const esbuild = 'esbuild'; // a variable: the test compiles without esbuild installed, and is skipped then
const esbuildInstalled = await import(esbuild).then(
  () => true,
  () => false,
);

test('the browser bundle builds, imports no Node built-in, and connects, subscribes and publishes', { timeout: 30_000, skip: !esbuildInstalled && 'esbuild is not installed' }, async () => {
  const outfile = join(dir, 'volley-client.js');
  await promisify(execFile)(process.execPath, [join(root, 'scripts', 'build-browser.mjs'), outfile], { cwd: root });
  const code = readFileSync(outfile, 'utf8');
  assert.doesNotMatch(code, /from\s*["']node:|require\(/, 'no Node built-ins');
  assert.match(code, /sourceMappingURL=volley-client\.js\.map/);
  const sdk = (await import(pathToFileURL(outfile).href)) as typeof import('./index.js');
  hub = await startTestHub();
  const client = new sdk.Volley(hub.base, { WebSocket, transports: ['websocket'] });
  client.connect();
  await client.ready(5000);
  const room = client.channel<{ text: string }>('chat:bundle');
  const got: string[] = [];
  room.on('publication', ({ data }) => got.push(data.text));
  await room.subscribe();
  await room.publish({ text: 'from the bundle' });
  await until(() => got.length === 1, 2000, 'the publication');
  assert.deepEqual(got, ['from the bundle']);
  client.disconnect();
});
