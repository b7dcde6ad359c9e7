/**
 * Tests of command validation: every command type with every field, each way each field can be wrong, the
 * channel grammar, JSON data checks, and envelopes aimed at prototypes (reliability.md class 11).
 *
 * @module
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CHANNEL_PUNCTUATION,
  DEFAULT_COMMAND_LIMITS,
  MAX_CLIENT_NAME_LENGTH,
  MAX_EPOCH_LENGTH,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  commandLimits,
  isChannel,
  jsonValueProblem,
  nameProblem,
  parseCommand,
  type CommandLimits,
  type ParseCommandResult,
} from './validate.js';
import type { Command } from './wire.js';

/** A short rendering of a test input for assertion messages (inputs may be cyclic-deep, BigInt, …). */
function show(value: unknown): string {
  try {
    return String(JSON.stringify(value)).slice(0, 200);
  } catch {
    return String(typeof value);
  }
}

function accepted(value: unknown, limits?: CommandLimits): Command {
  const result = parseCommand(value, limits);
  assert.equal(result.ok, true, `expected ${show(value)} to be accepted: ${result.ok ? '' : result.message}`);
  return (result as Extract<ParseCommandResult, { ok: true }>).command;
}

function refused(value: unknown, limits?: CommandLimits): Extract<ParseCommandResult, { ok: false }> {
  const result = parseCommand(value, limits);
  if (result.ok) assert.fail(`expected ${show(value)} to be refused`);
  return result as Extract<ParseCommandResult, { ok: false }>;
}

/** Refused with a reply for id 7, whose message mentions `mention`. */
function repliedTo(value: Record<string, unknown>, mention: string | RegExp, limits?: CommandLimits): void {
  const result = refused({ ...value, id: 7 }, limits);
  assert.equal(result.id, 7, `expected a reply for id 7: ${result.message}`);
  if (typeof mention === 'string') assert.ok(result.message.includes(mention), `"${result.message}" should mention ${mention}`);
  else assert.match(result.message, mention);
}

function nested(levels: number, leaf: unknown = 0): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

/** Every command type, with every optional field set. */
const FULL_COMMANDS: readonly Command[] = [
  {
    id: 1,
    type: 'connect',
    token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln',
    name: 'volley-js',
    version: '1.2.3',
    subscriptions: { 'chat:room-1': { recover: { epoch: 'e1', offset: 41 } }, lobby: {} },
  },
  { id: 2, type: 'subscribe', channel: 'chat:room-1', recover: { epoch: 'e1', offset: 0 }, presenceData: { status: 'away', tags: ['a'] } },
  { id: 3, type: 'unsubscribe', channel: 'chat:room-1' },
  { id: 4, type: 'publish', channel: 'chat:room-1', data: { text: 'hi', n: 1.5, ok: true, none: null }, idempotencyKey: 'msg-0001' },
  { id: 5, type: 'presence', channel: 'chat:room-1', countsOnly: true },
  { id: 6, type: 'history', channel: 'chat:room-1', since: 10, limit: 100, reverse: true },
  { id: 7, type: 'rpc', method: 'orders.get', data: { orderId: 17 } },
  { id: 8, type: 'ping' },
  { id: 9, type: 'refresh', token: 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln' },
];

/** Every command type with only its required fields. */
const MINIMAL_COMMANDS: readonly Command[] = [
  { id: 1, type: 'connect' },
  { id: 2, type: 'subscribe', channel: 'lobby' },
  { id: 3, type: 'unsubscribe', channel: 'lobby' },
  { id: 4, type: 'publish', channel: 'lobby', data: null },
  { id: 5, type: 'presence', channel: 'lobby' },
  { id: 6, type: 'history', channel: 'lobby' },
  { id: 7, type: 'rpc', method: 'now' },
  { id: 8, type: 'ping' },
  { id: 9, type: 'refresh', token: 't' },
];

describe('parseCommand: valid commands', () => {
  test('accepts every command type with all of its optional fields', () => {
    for (const command of FULL_COMMANDS) assert.deepEqual(accepted(command), command);
  });

  test('accepts every command type with only its required fields', () => {
    for (const command of MINIMAL_COMMANDS) assert.deepEqual(accepted(command), command);
  });

  test('accepts commands decoded from JSON text', () => {
    for (const command of FULL_COMMANDS) assert.deepEqual(accepted(JSON.parse(JSON.stringify(command))), command);
  });

  test('returns a fresh object built from the checked fields, not the decoded one', () => {
    const input = { id: 1, type: 'subscribe', channel: 'lobby', recover: { epoch: 'e', offset: 1 } };
    const command = accepted(input);
    assert.notEqual(command, input);
    assert.notEqual((command as { recover: unknown }).recover, input.recover);
  });

  test('accepts objects with a null prototype', () => {
    const input = Object.assign(Object.create(null) as object, { id: 3, type: 'ping' });
    assert.deepEqual(accepted(input), { id: 3, type: 'ping' });
  });

  test('accepts the largest safe integer as an id and a float with an integer value', () => {
    assert.equal(accepted({ id: Number.MAX_SAFE_INTEGER, type: 'ping' }).id, Number.MAX_SAFE_INTEGER);
    assert.equal(accepted(JSON.parse('{"id":5.0,"type":"ping"}')).id, 5);
  });

  test('uses the default limits when none are given', () => {
    repliedTo({ type: 'history', channel: 'a', limit: DEFAULT_COMMAND_LIMITS.maxHistoryLimit + 1 }, 'limit');
  });
});

describe('parseCommand: envelope', () => {
  test('refuses a message that is not a plain object, with no id to reply to', () => {
    const notObjects: unknown[] = [null, undefined, 1, 'ping', true, [], [1, 'ping'], new Date(0), new Map([['id', 1]]), Object.create({ id: 1, type: 'ping' })];
    for (const value of notObjects) {
      const result = refused(value);
      assert.equal(result.id, null);
      assert.match(result.message, /object/);
    }
  });

  test('refuses ids that are not positive safe integers, with no id to reply to', () => {
    const badIds: unknown[] = ['1', '9'.repeat(100_000), 1.5, 0, -1, -0, 2 ** 53, 2 ** 53 + 2, 1e20, NaN, Infinity, true, null, {}, [1], { valueOf: () => 1 }];
    for (const id of badIds) {
      const result = refused({ id, type: 'ping' });
      assert.equal(result.id, null, String(id));
      assert.match(result.message, /"id" must be a positive integer/);
    }
    assert.equal(refused({ type: 'ping' }).id, null);
  });

  test('refuses a missing, non-string or unknown type with a reply for the id', () => {
    repliedTo({}, '"type" must be a string');
    repliedTo({ type: 1 }, '"type" must be a string');
    repliedTo({ type: null }, '"type" must be a string');
    repliedTo({ type: ['ping'] }, '"type" must be a string');
    for (const type of ['', 'PING', 'Ping', 'subscribe ', 'join', 'publication', 'disconnect']) {
      repliedTo({ type }, `unknown command type ${JSON.stringify(type)}`);
    }
  });

  test('refuses types named after Object.prototype properties', () => {
    for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__']) {
      repliedTo({ type }, 'unknown command type');
    }
  });

  test('refuses an unknown field in every command type, naming it', () => {
    for (const command of FULL_COMMANDS) {
      repliedTo({ ...command, extra: 1 }, `${command.type}: unknown field "extra"`);
    }
  });

  test('refuses fields that belong to another command type', () => {
    repliedTo({ type: 'ping', channel: 'a' }, 'ping: unknown field "channel"');
    repliedTo({ type: 'unsubscribe', channel: 'a', recover: { epoch: '', offset: 0 } }, 'unknown field "recover"');
    repliedTo({ type: 'publish', channel: 'a', data: 1, presenceData: 1 }, 'unknown field "presenceData"');
    repliedTo({ type: 'rpc', method: 'm', channel: 'a' }, 'unknown field "channel"');
  });

  test('refuses own keys named __proto__, constructor, prototype and toString as unknown fields', () => {
    const withProto = JSON.parse('{"id":7,"type":"ping","__proto__":{"polluted":1}}') as Record<string, unknown>;
    const result = refused(withProto);
    assert.equal(result.id, 7);
    assert.match(result.message, /unknown field "__proto__"/);
    for (const key of ['constructor', 'prototype', 'toString', 'hasOwnProperty']) {
      repliedTo({ type: 'ping', [key]: { polluted: 1 } }, `unknown field "${key}"`);
    }
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });

  test('quotes at most 32 characters of an unknown field or type, escaped', () => {
    const result = refused({ id: 7, type: 'ping', ['x'.repeat(10_000)]: 1 });
    assert.ok(result.message.length < 80, result.message);
    const control = refused({ id: 7, type: 'ping\u0000\u001b[31m' });
    assert.ok(!/[\u0000-\u001f]/.test(control.message), control.message);
  });

  test('ignores fields found only on the prototype', () => {
    const proto = { channel: 'lobby', data: 1 };
    const value = Object.create(proto) as Record<string, unknown>;
    Object.assign(value, { id: 7, type: 'publish' });
    // not a plain object: refused outright, and no inherited field is read
    assert.equal(refused(value).id, null);
    const nullProto = Object.assign(Object.create(null) as object, { id: 7, type: 'publish' });
    repliedTo(nullProto as Record<string, unknown>, '"channel" is required');
  });
});

describe('parseCommand: fields', () => {
  test('requires channel in every command that has one, as a valid channel name', () => {
    for (const type of ['subscribe', 'unsubscribe', 'publish', 'presence', 'history']) {
      const data = type === 'publish' ? { data: 1 } : {};
      repliedTo({ type, ...data }, `${type}: "channel" is required`);
      repliedTo({ type, channel: 5, ...data }, `${type}: "channel" must be a string`);
      repliedTo({ type, channel: '', ...data }, '"channel" must not be empty');
      repliedTo({ type, channel: ':x', ...data }, '"channel" must not have an empty segment');
      repliedTo({ type, channel: { toString: 'foo' }, ...data }, '"channel" must be a string');
    }
  });

  test('checks tokens: 1 to maxTokenLength printable ASCII characters', () => {
    for (const type of ['connect', 'refresh']) {
      for (const token of ['', 'a b', 'a\nb', 'é', 5, null, ['t'], 'x'.repeat(DEFAULT_COMMAND_LIMITS.maxTokenLength + 1)]) {
        repliedTo({ type, token }, `${type}: "token"`);
      }
      assert.ok(accepted({ id: 1, type, token: 'x'.repeat(DEFAULT_COMMAND_LIMITS.maxTokenLength) }));
    }
    repliedTo({ type: 'refresh' }, 'refresh: "token" is required');
  });

  test('checks client name and version: printable ASCII, at most 64 characters', () => {
    for (const key of ['name', 'version']) {
      for (const bad of [1, null, 'x'.repeat(MAX_CLIENT_NAME_LENGTH + 1), 'a\u0000', 'a\nb', 'é']) {
        repliedTo({ type: 'connect', [key]: bad }, `connect: "${key}"`);
      }
      assert.ok(accepted({ id: 1, type: 'connect', [key]: 'x'.repeat(MAX_CLIENT_NAME_LENGTH) }));
      assert.ok(accepted({ id: 1, type: 'connect', [key]: '' }));
    }
  });

  test('checks connect subscriptions: an object of at most maxSubscriptions valid channels', () => {
    for (const bad of [null, [], 'lobby', 1, ['lobby']]) repliedTo({ type: 'connect', subscriptions: bad }, '"subscriptions" must be an object');
    const limits = commandLimits({ maxSubscriptions: 3 });
    const three = { a: {}, b: {}, c: {} };
    assert.ok(accepted({ id: 1, type: 'connect', subscriptions: three }, limits));
    repliedTo({ type: 'connect', subscriptions: { ...three, d: {} } }, 'at most 3 channels', limits);
    repliedTo({ type: 'connect', subscriptions: { ':x': {} } }, 'subscription channel ":x" must not have an empty segment');
    repliedTo({ type: 'connect', subscriptions: { constructor: {} } }, 'reserved name "constructor"');
    repliedTo({ type: 'connect', subscriptions: { lobby: null } }, 'subscription "lobby" must be an object');
    repliedTo({ type: 'connect', subscriptions: { lobby: { recover: { epoch: 'e', offset: 1 }, presenceData: 1 } } }, 'unknown field "presenceData"');
    repliedTo({ type: 'connect', subscriptions: { lobby: { recover: { epoch: 'e' } } } }, 'subscription "lobby": "recover": "offset"');
  });

  test('checks recover: {epoch, offset} with a short printable epoch and a non-negative integer offset', () => {
    const bad: unknown[] = [
      null,
      [],
      'e:1',
      { epoch: 'e' },
      { offset: 1 },
      { epoch: 1, offset: 1 },
      { epoch: 'e', offset: -1 },
      { epoch: 'e', offset: 1.5 },
      { epoch: 'e', offset: '1' },
      { epoch: 'e', offset: 2 ** 53 },
      { epoch: 'x'.repeat(MAX_EPOCH_LENGTH + 1), offset: 1 },
      { epoch: 'e\n', offset: 1 },
      { epoch: 'e', offset: 1, extra: true },
    ];
    for (const recover of bad) repliedTo({ type: 'subscribe', channel: 'lobby', recover }, 'subscribe: "recover"');
    assert.ok(accepted({ id: 1, type: 'subscribe', channel: 'lobby', recover: { epoch: 'x'.repeat(MAX_EPOCH_LENGTH), offset: 0 } }));
  });

  test('requires publish data, which may be null but must be JSON', () => {
    repliedTo({ type: 'publish', channel: 'lobby' }, 'publish: "data" is required');
    assert.equal((accepted({ id: 1, type: 'publish', channel: 'lobby', data: null }) as { data: unknown }).data, null);
    for (const data of [undefined, () => 1, 1n, Symbol('s'), NaN, Infinity, new Date(0), new Map(), { a: [undefined] }, '\ud800']) {
      repliedTo({ type: 'publish', channel: 'lobby', data }, 'publish: "data" contains');
    }
  });

  test('checks presenceData and rpc data as JSON values', () => {
    repliedTo({ type: 'subscribe', channel: 'lobby', presenceData: { a: NaN } }, 'subscribe: "presenceData"');
    repliedTo({ type: 'rpc', method: 'm', data: [1, () => 2] }, 'rpc: "data"');
    assert.ok(accepted({ id: 1, type: 'rpc', method: 'm', data: null }));
  });

  test('limits data to maxDepth - 1 levels, the command being level 1', () => {
    const { maxDepth } = DEFAULT_COMMAND_LIMITS;
    assert.ok(accepted({ id: 1, type: 'publish', channel: 'a', data: nested(maxDepth - 1) }));
    repliedTo({ type: 'publish', channel: 'a', data: nested(maxDepth) }, `nests deeper than ${maxDepth - 1}`);
    const limits = commandLimits({ maxDepth: 8 });
    assert.ok(accepted({ id: 1, type: 'publish', channel: 'a', data: nested(7) }, limits));
    repliedTo({ type: 'publish', channel: 'a', data: nested(8) }, 'nests deeper than 7', limits);
  });

  test('refuses data nested 100,000 levels without overflowing the stack', () => {
    repliedTo({ type: 'publish', channel: 'a', data: nested(100_000) }, 'nests deeper than');
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    repliedTo({ type: 'rpc', method: 'm', data: deep }, 'nests deeper than');
  });

  test('refuses a data key __proto__ and keeps constructor and prototype keys as plain data', () => {
    const polluting = JSON.parse('{"id":7,"type":"publish","channel":"a","data":{"x":[{"__proto__":{"polluted":1}}]}}') as Record<string, unknown>;
    assert.match(refused(polluting).message, /publish: "data" has the object key "__proto__"/);
    const data = JSON.parse('{"constructor":{"prototype":{"polluted":1}},"prototype":1,"toString":"x"}') as unknown;
    const command = accepted({ id: 1, type: 'publish', channel: 'a', data }) as { data: Record<string, unknown> };
    const copy = { ...command.data };
    Object.assign({}, command.data);
    assert.equal(copy['toString'], 'x');
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
    assert.equal(typeof ({}).toString, 'function');
  });

  test('checks idempotency keys: 1 to 128 characters without control characters', () => {
    for (const key of ['', 'x'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH + 1), 'a\u0000', 'a\nb', 'a\u0085', '\udc00', 5, null]) {
      repliedTo({ type: 'publish', channel: 'a', data: 1, idempotencyKey: key }, 'publish: "idempotencyKey"');
    }
    assert.ok(accepted({ id: 1, type: 'publish', channel: 'a', data: 1, idempotencyKey: 'é'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH) }));
  });

  test('checks history since and limit: non-negative integers, limit at most maxHistoryLimit', () => {
    for (const key of ['since', 'limit']) {
      for (const bad of [-1, 1.5, '3', null, 2 ** 53, NaN, true]) {
        repliedTo({ type: 'history', channel: 'a', [key]: bad }, `history: "${key}"`);
      }
      assert.ok(accepted({ id: 1, type: 'history', channel: 'a', [key]: 0 }));
    }
    const limits = commandLimits({ maxHistoryLimit: 50 });
    assert.ok(accepted({ id: 1, type: 'history', channel: 'a', limit: 50 }, limits));
    repliedTo({ type: 'history', channel: 'a', limit: 51 }, 'must be an integer from 0 to 50', limits);
    assert.ok(accepted({ id: 1, type: 'history', channel: 'a', since: Number.MAX_SAFE_INTEGER }));
  });

  test('checks booleans: countsOnly and reverse', () => {
    for (const bad of ['true', 1, 0, null, {}]) {
      repliedTo({ type: 'presence', channel: 'a', countsOnly: bad }, 'presence: "countsOnly" must be true or false');
      repliedTo({ type: 'history', channel: 'a', reverse: bad }, 'history: "reverse" must be true or false');
    }
    assert.equal((accepted({ id: 1, type: 'history', channel: 'a', reverse: false }) as { reverse: boolean }).reverse, false);
  });

  test('refuses null for an optional field rather than treating it as absent', () => {
    repliedTo({ type: 'connect', token: null }, 'connect: "token"');
    repliedTo({ type: 'history', channel: 'a', limit: null }, 'history: "limit"');
    repliedTo({ type: 'subscribe', channel: 'a', recover: null }, 'subscribe: "recover"');
  });

  test('checks rpc methods with the channel grammar and maxMethodLength', () => {
    repliedTo({ type: 'rpc' }, 'rpc: "method" is required');
    for (const method of ['', 'a b', 'hasOwnProperty', '__proto__', 'error', 5]) repliedTo({ type: 'rpc', method }, 'rpc: "method"');
    const limits = commandLimits({ maxMethodLength: 8 });
    assert.ok(accepted({ id: 1, type: 'rpc', method: 'x'.repeat(8) }, limits));
    repliedTo({ type: 'rpc', method: 'x'.repeat(9) }, 'at most 8 characters', limits);
  });

  test('applies maxChannelLength', () => {
    const limits = commandLimits({ maxChannelLength: 10 });
    assert.ok(accepted({ id: 1, type: 'subscribe', channel: 'x'.repeat(10) }, limits));
    repliedTo({ type: 'subscribe', channel: 'x'.repeat(11) }, 'at most 10 characters', limits);
  });
});

describe('channel names', () => {
  test('accepts letters, digits and the documented punctuation in ":"-separated segments', () => {
    for (const name of ['a', 'lobby', 'chat:room-1', 'a:b:c', `x${CHANNEL_PUNCTUATION}y`, 'user@example.com', 'dm:chat#alice,bob', 'a/b;c=d', 'Z9', 'x'.repeat(255)]) {
      assert.equal(nameProblem(name), undefined, name);
      assert.equal(isChannel(name), true, name);
    }
  });

  test('refuses empty segments: a leading or trailing colon and a double colon', () => {
    for (const name of [':x', 'x:', 'a::b', ':', '::']) assert.equal(nameProblem(name), 'must not have an empty segment', name);
  });

  test('refuses spaces, control characters, non-ASCII and other punctuation', () => {
    for (const name of ['a b', 'a\u0000', 'a\nb', '\u007f', 'é', 'a\u202eb', 'a\ud83d\ude00', 'a*', 'a$', 'a?b', 'a"b', 'a\\b', 'a%2e', '\u0430']) {
      assert.match(nameProblem(name) ?? '', /may only contain/, JSON.stringify(name));
    }
  });

  test('refuses names longer than the limit and non-strings', () => {
    assert.equal(nameProblem('x'.repeat(256)), 'must be at most 255 characters');
    assert.equal(nameProblem('x'.repeat(11), 10), 'must be at most 10 characters');
    for (const value of [1, null, undefined, ['a'], { toString: () => 'a' }]) assert.equal(nameProblem(value), 'must be a string');
  });

  test('refuses reserved names as the namespace or the whole name, and allows them after it', () => {
    for (const name of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'error', 'newListener', 'removeListener', 'constructor:x', '__proto__:a:b', 'valueOf:1']) {
      assert.match(nameProblem(name) ?? '', /reserved name/, name);
    }
    for (const name of ['chat:constructor', 'chat:__proto__', 'errors', 'Constructor', 'chat:error']) assert.equal(nameProblem(name), undefined, name);
  });
});

describe('jsonValueProblem', () => {
  test('accepts JSON scalars, arrays and plain objects', () => {
    for (const value of [null, true, false, 0, -0, -1.5e300, '', 'text', '😀', [], {}, [1, 'a', null, { b: [true] }], Object.create(null)]) {
      assert.equal(jsonValueProblem(value, 10), undefined, JSON.stringify(value));
    }
  });

  test('counts a scalar as level 0 and each array or object as one level', () => {
    assert.equal(jsonValueProblem(1, 0), undefined);
    assert.equal(jsonValueProblem([], 0)?.kind, 'too_deep');
    assert.equal(jsonValueProblem([[1]], 2), undefined);
    assert.equal(jsonValueProblem([[1]], 1)?.kind, 'too_deep');
    assert.equal(jsonValueProblem({ a: { b: {} } }, 3), undefined);
    assert.equal(jsonValueProblem([1, [2, [3, [4]]]], 3)?.kind, 'too_deep');
  });

  test('refuses values JSON cannot carry', () => {
    for (const value of [undefined, NaN, -Infinity, 1n, Symbol('x'), () => 1, new Date(0), new Map(), new Set(), new Uint8Array(1), /re/, new (class Point {})(), '\ud800', 'a\udfffb', { '\ud800': 1 }]) {
      assert.equal(jsonValueProblem(value, 10)?.kind, 'unsupported_value', String(typeof value));
      assert.equal(jsonValueProblem([[value]], 10)?.kind, 'unsupported_value');
    }
  });

  test('refuses an own __proto__ key at any depth', () => {
    const value = JSON.parse('[{"a":{"__proto__":{}}}]') as unknown;
    assert.deepEqual(jsonValueProblem(value, 10), { kind: 'forbidden_key', message: 'has the object key "__proto__"' });
  });

  test('walks a 1,000,000-element array and a 100,000-level nesting without recursion', () => {
    assert.equal(jsonValueProblem(new Array<number>(1_000_000).fill(1), 2), undefined);
    assert.equal(jsonValueProblem(nested(100_000), 64)?.kind, 'too_deep');
    assert.equal(jsonValueProblem(nested(100_000), 200_000), undefined);
  });
});

describe('commandLimits', () => {
  test('fills in the defaults', () => {
    assert.deepEqual(commandLimits(), DEFAULT_COMMAND_LIMITS);
    assert.equal(commandLimits({ maxHistoryLimit: 5 }).maxHistoryLimit, 5);
    assert.equal(DEFAULT_COMMAND_LIMITS.maxChannelLength, 255);
    assert.equal(DEFAULT_COMMAND_LIMITS.maxDepth, 64);
  });

  test('throws for limits that are not positive integers or a maxDepth below 4', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, '5']) {
      assert.throws(() => commandLimits({ maxChannelLength: bad as number }), { code: 'VOLLEY_ERR_INVALID_ARGUMENT' });
    }
    assert.throws(() => commandLimits({ maxDepth: 3 }), { code: 'VOLLEY_ERR_INVALID_ARGUMENT' });
  });
});
