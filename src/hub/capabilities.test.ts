/**
 * Tests of channel capabilities: the claim parser, pattern matching and user-limited channels.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AuthError,
  CAPABILITIES,
  Capabilities,
  MAX_PATTERNS,
  allows,
  isUserLimitedChannel,
  isUserLimitedChannelAllowed,
  parseCapabilities,
} from './capabilities.js';

function rejectsClaim(claim: unknown): void {
  assert.throws(
    () => parseCapabilities(claim),
    (error: unknown) => error instanceof AuthError && error.code === 'token_invalid' && error.reason === 'bad_capabilities',
  );
}

describe('parseCapabilities', () => {
  it('gives no capability when the claim is absent', () => {
    const caps = parseCapabilities(undefined);
    assert.equal(caps, Capabilities.NONE);
    assert.equal(caps.isEmpty, true);
    for (const action of CAPABILITIES) assert.equal(allows(caps, 'chat:1', action), false);
  });

  it('grants each listed action, and only those, in an exactly named channel', () => {
    const caps = parseCapabilities({ news: ['subscribe', 'history'] });
    assert.equal(allows(caps, 'news', 'subscribe'), true);
    assert.equal(allows(caps, 'news', 'history'), true);
    assert.equal(allows(caps, 'news', 'publish'), false);
    assert.equal(allows(caps, 'news', 'presence'), false);
    assert.equal(allows(caps, 'newsx', 'subscribe'), false);
    assert.equal(allows(caps, 'new', 'subscribe'), false);
  });

  it('lets `*` alone match every channel', () => {
    const caps = parseCapabilities({ '*': ['subscribe'] });
    assert.equal(allows(caps, 'a', 'subscribe'), true);
    assert.equal(allows(caps, 'chat:room-1', 'subscribe'), true);
    assert.equal(allows(caps, 'chat:room-1', 'publish'), false);
    assert.equal(allows(caps, '', 'subscribe'), false);
  });

  it('lets `chat:*` match channels of the chat namespace and not chatx:1', () => {
    const caps = parseCapabilities({ 'chat:*': ['subscribe', 'publish'] });
    assert.equal(allows(caps, 'chat:room-1', 'publish'), true);
    assert.equal(allows(caps, 'chat:a:b', 'subscribe'), true);
    assert.equal(allows(caps, 'chatx:1', 'subscribe'), false);
    assert.equal(allows(caps, 'chat', 'subscribe'), false);
    assert.equal(allows(caps, 'chat:', 'subscribe'), false, '`*` stands for at least one character');
    assert.equal(allows(caps, 'xchat:1', 'subscribe'), false);
  });

  it('accepts a prefix wildcard inside a namespace (`chat:room-*`)', () => {
    const caps = parseCapabilities({ 'chat:room-*': ['subscribe'] });
    assert.equal(allows(caps, 'chat:room-42', 'subscribe'), true);
    assert.equal(allows(caps, 'chat:lobby', 'subscribe'), false);
  });

  it('merges the actions of patterns that match the same channel', () => {
    const caps = parseCapabilities({ 'chat:*': ['subscribe'], 'chat:room-1': ['publish'], '*': ['history'] });
    assert.equal(allows(caps, 'chat:room-1', 'subscribe'), true);
    assert.equal(allows(caps, 'chat:room-1', 'publish'), true);
    assert.equal(allows(caps, 'chat:room-1', 'history'), true);
    assert.equal(allows(caps, 'chat:room-2', 'publish'), false);
  });

  it('refuses a wildcard that would cross a namespace boundary (`chat*`)', () => {
    rejectsClaim({ 'chat*': ['subscribe'] });
    rejectsClaim({ 'c*': ['subscribe'] });
  });

  it('refuses `*` anywhere but at the end', () => {
    rejectsClaim({ '*:x': ['subscribe'] });
    rejectsClaim({ 'chat:*:x': ['subscribe'] });
    rejectsClaim({ 'chat:**': ['subscribe'] });
  });

  it('refuses patterns with whitespace, control or non-ASCII characters, empty or too long ones', () => {
    rejectsClaim({ 'chat room': ['subscribe'] });
    rejectsClaim({ 'chat\n': ['subscribe'] });
    rejectsClaim({ 'chat:é': ['subscribe'] });
    rejectsClaim({ '': ['subscribe'] });
    rejectsClaim({ ['a'.repeat(256)]: ['subscribe'] });
    assert.doesNotThrow(() => parseCapabilities({ ['a'.repeat(255)]: ['subscribe'] }));
  });

  it('refuses unknown actions and values that are not arrays of action names', () => {
    rejectsClaim({ news: ['read'] });
    rejectsClaim({ news: 'subscribe' });
    rejectsClaim({ news: [['subscribe']] });
    rejectsClaim({ news: { 0: 'subscribe' } });
    rejectsClaim({ news: null });
    rejectsClaim({ news: ['subscribe', 'constructor'] });
    rejectsClaim({ news: ['__proto__'] });
  });

  it('refuses a claim that is not a plain object', () => {
    for (const claim of [null, 'news', 42, true, [], [['news', ['subscribe']]], new Map([['news', ['subscribe']]]), new (class Claim {})()]) {
      rejectsClaim(claim);
    }
  });

  it(`refuses more than ${MAX_PATTERNS} patterns`, () => {
    const claim: Record<string, string[]> = {};
    for (let i = 0; i <= MAX_PATTERNS; i++) claim[`ch:${i}`] = ['subscribe'];
    rejectsClaim(claim);
    delete claim[`ch:${MAX_PATTERNS}`];
    assert.doesNotThrow(() => parseCapabilities(claim));
  });

  it('treats a `__proto__` key from JSON as a channel name and pollutes nothing', () => {
    const claim: unknown = JSON.parse('{"__proto__": ["subscribe"], "constructor": ["publish"]}');
    const caps = parseCapabilities(claim);
    assert.equal(allows(caps, '__proto__', 'subscribe'), true);
    assert.equal(allows(caps, 'constructor', 'publish'), true);
    assert.equal(allows(caps, 'constructor', 'subscribe'), false);
    assert.equal(({} as Record<string, unknown>)['subscribe'], undefined);
    assert.equal(Object.getPrototypeOf({}), Object.prototype);
  });

  it('finds nothing through Object.prototype for channels named like its members', () => {
    const caps = parseCapabilities({ news: ['subscribe'] });
    for (const channel of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      assert.equal(allows(caps, channel, 'subscribe'), false, channel);
    }
  });

  it('accepts an empty list and duplicate actions, and reports its grants without duplicates', () => {
    const caps = parseCapabilities({ a: [], 'b:*': ['publish', 'subscribe', 'publish'] });
    assert.deepEqual(caps.grants, [
      { pattern: 'a', actions: [] },
      { pattern: 'b:*', actions: ['subscribe', 'publish'] },
    ]);
    assert.deepEqual({ ...caps.toJSON() }, { a: [], 'b:*': ['subscribe', 'publish'] });
    assert.equal(parseCapabilities({ a: [] }).isEmpty, true);
  });

  it('round-trips through its claim form', () => {
    const claim = { 'chat:*': ['subscribe', 'publish'], news: ['history'] };
    assert.deepEqual({ ...parseCapabilities(JSON.parse(JSON.stringify(parseCapabilities(claim)))).toJSON() }, claim);
  });

  it('matches in time linear in the patterns (no regular expression from token input)', () => {
    const claim: Record<string, string[]> = {};
    for (let i = 0; i < MAX_PATTERNS; i++) claim[`${'a'.repeat(240)}:${i}*`] = ['subscribe'];
    const caps = parseCapabilities(claim);
    const channel = `${'a'.repeat(240)}:${'1'.repeat(10_000)}x`;
    const start = performance.now();
    for (let i = 0; i < 1000; i++) caps.allows(channel, 'publish');
    assert.ok(performance.now() - start < 500, 'a thousand worst-case checks take well under a second');
    assert.equal(caps.allows(channel, 'subscribe'), true);
  });
});

describe('Capabilities', () => {
  it('is built from trusted grants, and throws TypeError on a bad one', () => {
    const caps = new Capabilities([{ pattern: 'chat:*', actions: ['subscribe'] }]);
    assert.equal(caps.allows('chat:1', 'subscribe'), true);
    assert.throws(() => new Capabilities([{ pattern: 'chat*', actions: ['subscribe'] }]), TypeError);
    assert.throws(() => new Capabilities([{ pattern: 'chat:1', actions: ['fly' as never] }]), TypeError);
  });

  it('throws TypeError when asked about an unknown action (a caller bug)', () => {
    assert.throws(() => allows(Capabilities.NONE, 'news', 'read' as never), TypeError);
  });

  it('cannot be changed after construction', () => {
    const caps = parseCapabilities({ news: ['subscribe'] });
    assert.throws(() => ((caps.grants as CapabilityGrantArray).push({ pattern: '*', actions: ['publish'] })), TypeError);
    assert.equal(caps.allows('other', 'publish'), false);
  });
});

type CapabilityGrantArray = Array<{ pattern: string; actions: string[] }>;

describe('user-limited channels', () => {
  it('lets only the user named after `#` in', () => {
    assert.equal(isUserLimitedChannelAllowed('notifications#alice', 'alice'), true);
    assert.equal(isUserLimitedChannelAllowed('notifications#alice', 'bob'), false);
    assert.equal(isUserLimitedChannelAllowed('personal:inbox#alice', 'alice'), true);
  });

  it('lets each user of a comma-separated list in, and no prefix or suffix of one', () => {
    assert.equal(isUserLimitedChannelAllowed('dm:chat#alice,bob', 'alice'), true);
    assert.equal(isUserLimitedChannelAllowed('dm:chat#alice,bob', 'bob'), true);
    assert.equal(isUserLimitedChannelAllowed('dm:chat#alice,bob', 'ali'), false);
    assert.equal(isUserLimitedChannelAllowed('dm:chat#alice,bob', 'bo'), false);
    assert.equal(isUserLimitedChannelAllowed('dm:chat#alice,bob', 'lice'), false);
    assert.equal(isUserLimitedChannelAllowed('dm:chat#,alice', 'alice'), true);
  });

  it('reads the users after the last `#`', () => {
    assert.equal(isUserLimitedChannelAllowed('a#bob#carol', 'carol'), true);
    assert.equal(isUserLimitedChannelAllowed('a#bob#carol', 'bob'), false);
  });

  it('refuses anonymous users, user ids with `,` or `#`, and channels without `#`', () => {
    assert.equal(isUserLimitedChannelAllowed('notifications#', ''), false);
    assert.equal(isUserLimitedChannelAllowed('dm#alice,bob', 'alice,bob'), false);
    assert.equal(isUserLimitedChannelAllowed('dm#a#b', 'a#b'), false);
    assert.equal(isUserLimitedChannelAllowed('notifications', 'notifications'), false);
    assert.equal(isUserLimitedChannelAllowed('x#', 'alice'), false);
  });

  it('tells user-limited channels apart', () => {
    assert.equal(isUserLimitedChannel('notifications#alice'), true);
    assert.equal(isUserLimitedChannel('notifications'), false);
  });
});
