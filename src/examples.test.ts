/** The README's examples run as written: the broadcast chat delivers one tab's message to every tab. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from './socket/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

test('the broadcast chat example relays a message to every connected client', { timeout: 20_000 }, async () => {
  const child = spawn(process.execPath, [resolve(root, 'examples/chat.mjs')], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const port = /:(\d+)/.exec(line.toString())![1];
    const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assert.match(page, /new WebSocket/);
    const alice = new WebSocket(`ws://127.0.0.1:${port}`);
    const bob = new WebSocket(`ws://127.0.0.1:${port}`);
    await Promise.all([once(alice, 'open'), once(bob, 'open')]);
    const heard = once(bob, 'message');
    alice.send('hi from alice');
    const [data, isBinary] = (await heard) as [Buffer, boolean];
    assert.equal(data.toString(), 'hi from alice');
    assert.equal(isBinary, false);
    alice.close();
    bob.close();
    await Promise.all([once(alice, 'close'), once(bob, 'close')]);
  } finally {
    child.kill();
  }
});
