import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from './command.js';
import { clockTime, describeBinary, escapeControls, formatIncoming, parseHeader, parseInputLine, withScheme } from './format.js';

test('clockTime shows hours, minutes, seconds and milliseconds, zero-padded', () => {
  assert.equal(clockTime(new Date(2024, 0, 1, 3, 4, 5, 6)), '03:04:05.006');
});

test('a text message prints as "< [time] text"', () => {
  const at = new Date(2024, 0, 1, 12, 30, 0, 250);
  assert.equal(formatIncoming(Buffer.from('hello'), false, at), '< [12:30:00.250] hello');
});

test('a binary message prints its size and a hex preview of its first 16 bytes', () => {
  assert.equal(describeBinary(Buffer.from([0x68, 0x69])), '<binary 2 bytes> 68 69');
  assert.equal(describeBinary(Buffer.from([1])), '<binary 1 byte> 01');
  assert.equal(describeBinary(Buffer.alloc(0)), '<binary 0 bytes>');
  assert.equal(describeBinary(Buffer.alloc(17, 0xab)), `<binary 17 bytes> ${Array(16).fill('ab').join(' ')} …`);
});

test('escape sequences from the network cannot reach the terminal', () => {
  assert.equal(escapeControls('a\x1b[2Jb\rc\u0085'), 'a\\x1b[2Jb\\x0dc\\x85');
  assert.equal(escapeControls('tab\tand\nnewline stay'), 'tab\tand\nnewline stay');
});

test('-H splits "Name: value" at the first colon and rejects a header without a name', () => {
  assert.deepEqual(parseHeader('Authorization: Bearer a:b'), ['Authorization', 'Bearer a:b']);
  assert.deepEqual(parseHeader('X-Empty:'), ['X-Empty', '']);
  assert.throws(() => parseHeader('no colon'), UsageError);
  assert.throws(() => parseHeader(': value'), UsageError);
  assert.throws(() => parseHeader('Bad Name: v'), UsageError);
});

test('an address without a scheme gets ws://', () => {
  assert.equal(withScheme('localhost:9001/chat'), 'ws://localhost:9001/chat');
  assert.equal(withScheme('wss://example.com'), 'wss://example.com');
});

test('input lines are messages unless they start with a slash command', () => {
  assert.deepEqual(parseInputLine('hello'), { kind: 'send', text: 'hello' });
  assert.deepEqual(parseInputLine(''), { kind: 'send', text: '' });
  assert.deepEqual(parseInputLine('//etc/passwd'), { kind: 'send', text: '/etc/passwd' });
  assert.deepEqual(parseInputLine('/ping'), { kind: 'ping', data: '' });
  assert.deepEqual(parseInputLine('/ping some data'), { kind: 'ping', data: 'some data' });
  assert.deepEqual(parseInputLine('/close'), { kind: 'close', code: undefined, reason: '' });
  assert.deepEqual(parseInputLine('/close 4000 bye now'), { kind: 'close', code: 4000, reason: 'bye now' });
  assert.equal(parseInputLine('/close soon').kind, 'invalid');
  assert.deepEqual(parseInputLine('/quit'), { kind: 'quit' });
  assert.deepEqual(parseInputLine('/help'), { kind: 'help' });
  assert.equal(parseInputLine('/nope').kind, 'invalid');
  assert.equal(parseInputLine('/').kind, 'invalid');
});
