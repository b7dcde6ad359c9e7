/**
 * The chat demo (/demo/chat) in headless Chromium against `volley serve --allow-anonymous --memory`: two
 * pages chat through the hub; a page that goes offline shows every message it missed exactly once and in
 * order; pages whose WebSocket (and SSE) is blocked chat over SSE and long-polling; with presence turned on
 * for the `chat` namespace the page lists who is there. Screenshots go to test-artifacts/browser/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { ChatPage, ensureBundle, launchChromium, requireChromium, serve, skipWithoutChromium, type Served, type ShownMessage } from './harness.test.js';

const skip = skipWithoutChromium();
const T = { timeout: 60_000 };
const SETUP = { timeout: 90_000 };

/** Messages sent while the page is offline in the recovery test. */
const MISSED = 20;

let browser: Browser | undefined;
const pages: ChatPage[] = [];
const hubs: Served[] = [];

before(async () => {
  if (skip !== false) return;
  requireChromium();
  await ensureBundle();
  browser = await launchChromium();
}, SETUP);

after(async () => {
  await Promise.all(pages.map((page) => page.close()));
  await browser?.close().catch(() => {});
  await Promise.all(hubs.map((hub) => hub.stop()));
}, SETUP);

async function startHub(config?: Record<string, unknown>): Promise<Served> {
  const hub = await serve(['--allow-anonymous', '--memory'], config);
  hubs.push(hub);
  return hub;
}

async function open(hub: Served, options: Parameters<typeof ChatPage.open>[2]): Promise<ChatPage> {
  const page = await ChatPage.open(browser!, hub.url, options);
  pages.push(page);
  return page;
}

async function screenshot(t: TestContext, page: ChatPage, name: string): Promise<void> {
  t.diagnostic(`screenshot: ${await page.screenshot(name)}`);
}

/** Asserts offsets strictly ascending (so: each publication once, in stream order). */
function assertOnceInOrder(messages: readonly ShownMessage[], who: string): void {
  for (let i = 1; i < messages.length; i++) {
    assert.ok(messages[i]!.offset > messages[i - 1]!.offset, `${who}: offset ${messages[i]!.offset} after ${messages[i - 1]!.offset}`);
  }
}

function texts(messages: readonly ShownMessage[]): string[] {
  return messages.map((m) => m.text);
}

describe('the chat demo in Chromium', { skip }, () => {
  let hub: Served;
  before(async () => {
    hub = await startHub();
  }, SETUP);

  test('two pages chat through the hub: a message typed in one appears in the other, once', T, async (t) => {
    const alice = await open(hub, { nick: 'alice', room: 'two-pages' });
    const bob = await open(hub, { nick: 'bob', room: 'two-pages' });
    assert.equal(await alice.transport(), 'websocket');

    await alice.sendAndWait('hello from alice');
    await bob.waitForText('hello from alice');
    await bob.page.locator('#text').fill('hi ali');
    await alice.page.locator('#typing', { hasText: 'bob is typing…' }).waitFor();
    await bob.page.locator('#text').fill('');
    await bob.sendAndWait('hi alice, bob here');
    await alice.waitForText('hi alice, bob here');
    await alice.page.locator('#typing', { hasText: /^$/ }).waitFor(); // a message clears its author's typing

    const seenByAlice = await alice.messages();
    assert.deepEqual(texts(seenByAlice), ['hello from alice', 'hi alice, bob here']);
    assert.deepEqual(await bob.messages(), seenByAlice);
    assertOnceInOrder(seenByAlice, 'alice');
    // `volley serve --allow-anonymous` has presence off: the page says so instead of failing.
    await alice.page.locator('#presence-note', { hasText: 'Presence is off' }).waitFor();
    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
    await screenshot(t, alice, 'chat-alice');
    await screenshot(t, bob, 'chat-bob');
  });

  test('a page that went offline shows every message it missed exactly once, in order, and sends what it queued', T, async (t) => {
    const carol = await open(hub, { nick: 'carol', room: 'recovery' });
    const dave = await open(hub, { nick: 'dave', room: 'recovery' });
    await carol.sendAndWait('before the outage');
    await dave.waitForText('before the outage');

    await carol.context.setOffline(true);
    await carol.waitForState('reconnecting');
    await carol.send('written while offline'); // waits in the SDK's outbox
    await carol.page.locator('#banner', { hasText: '1 message will be sent' }).waitFor();
    for (let i = 1; i <= MISSED; i++) await dave.sendAndWait(`missed ${i}`);
    await screenshot(t, carol, 'recovery-offline');

    await carol.context.setOffline(false);
    await carol.waitForState('connected');
    await carol.waitForMessageCount(MISSED + 2);
    await dave.waitForText('written while offline');
    const note = carol.page.locator('#messages .note.recovery');
    await note.waitFor();
    const replayed = Number(await note.getAttribute('data-recovered'));
    const duplicates = Number(await note.getAttribute('data-duplicates'));

    const seen = await carol.messages();
    assertOnceInOrder(seen, 'carol');
    const missed = Array.from({ length: MISSED }, (_, i) => `missed ${i + 1}`);
    assert.deepEqual(
      texts(seen).filter((text) => text.startsWith('missed ')),
      missed,
      'every missed message once, in order',
    );
    assert.equal(texts(seen).filter((text) => text === 'written while offline').length, 1);
    assert.equal(seen.length, MISSED + 2);
    const seenByDave = await dave.messages();
    assert.deepEqual(seenByDave, seen, 'both pages show the same stream');
    assert.ok(replayed >= MISSED, `the resubscribe replayed ${replayed} publications, expected at least ${MISSED}`);
    assert.equal(duplicates, 0, 'no publication delivered twice by the SDK');
    for (const page of [carol, dave]) assert.equal(await page.page.locator('#messages').getAttribute('data-duplicates'), null);
    t.diagnostic(
      `recovery: ${MISSED} messages missed while offline, ${replayed} replayed on resubscribe, ${duplicates} duplicates; ` +
        `page shows ${seen.length} messages (${MISSED} missed + 1 before + 1 queued offline), each once, offsets ${seen[0]!.offset}..${seen.at(-1)!.offset}`,
    );
    await note.scrollIntoViewIfNeeded();
    await screenshot(t, carol, 'recovery-back');
    assert.deepEqual(carol.errors, []);
  });

  test('with the WebSocket blocked a page chats over SSE, and with SSE blocked too over long-polling', T, async (t) => {
    const erin = await open(hub, { nick: 'erin', room: 'fallbacks', blockWebSocket: true });
    const frank = await open(hub, { nick: 'frank', room: 'fallbacks', blockWebSocket: true, blockSse: true });
    const gina = await open(hub, { nick: 'gina', room: 'fallbacks' });
    assert.equal(await erin.transport(), 'sse');
    assert.equal(await frank.transport(), 'polling');
    assert.equal(await gina.transport(), 'websocket');
    await erin.page.locator('#connection-text', { hasText: 'connected · sse' }).waitFor();

    await erin.sendAndWait('over sse');
    await frank.sendAndWait('over polling');
    await gina.sendAndWait('over websocket');
    const expected = ['over sse', 'over polling', 'over websocket'];
    for (const page of [erin, frank, gina]) {
      await page.waitForMessageCount(expected.length);
      const seen = await page.messages();
      assertOnceInOrder(seen, await page.transport() ?? '');
      assert.deepEqual(texts(seen), expected);
      assert.deepEqual(page.errors, []);
    }
    assert.equal(await erin.transport(), 'sse');
    assert.equal(await frank.transport(), 'polling');
    await screenshot(t, erin, 'fallback-sse');
    await screenshot(t, frank, 'fallback-polling');
  });
});

describe('the chat demo with presence on for the chat namespace', { skip }, () => {
  let hub: Served;
  before(async () => {
    hub = await startHub({ namespaces: { namespaces: { chat: { presence: true, joinLeave: true }, typing: { historySize: 0 } } } });
  }, SETUP);

  test('lists who is in the room, and who left', T, async (t) => {
    const hank = await open(hub, { nick: 'hank', room: 'presence' });
    const ivy = await open(hub, { nick: 'ivy', room: 'presence' });
    const list = hank.page.locator('#presence li');
    await list.nth(1).waitFor();
    assert.deepEqual(await list.allTextContents(), ['hank', 'ivy']);
    assert.equal(await hank.page.locator('#presence-note').isHidden(), true);
    // Typing goes through a namespace without history too.
    await ivy.page.locator('#text').fill('typing here');
    await hank.page.locator('#typing', { hasText: 'ivy is typing…' }).waitFor();
    await screenshot(t, hank, 'presence');

    await ivy.close();
    await list.nth(1).waitFor({ state: 'detached' });
    assert.deepEqual(await list.allTextContents(), ['hank']);
  });
});
