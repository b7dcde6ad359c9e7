import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PassThrough } from 'node:stream';
import { UsageError, defineCommand, formatBytes, formatHelp, parseByteSize, parseCommandArgs, parsePort, type CommandSpec } from './command.js';

const spec: CommandSpec = {
  name: 'volley demo',
  summary: 'A demo.',
  synopsis: '[options] <target>',
  positionals: [{ name: 'target', description: 'Where to go' }],
  options: {
    port: { type: 'string', short: 'p', value: 'PORT', default: '9001', description: 'A port' },
    tag: { type: 'string', multiple: true, value: 'TAG', description: 'A tag' },
    quiet: { type: 'boolean', description: 'Say less' },
  },
};

test('the help shows every option with its placeholder and default, and -h', () => {
  const help = formatHelp(spec);
  assert.match(help, /^Usage: volley demo \[options\] <target>$/m);
  assert.match(help, /-p, --port PORT +A port \(default: 9001\)/);
  assert.match(help, /--tag TAG +A tag \(repeatable\)/);
  assert.match(help, /--quiet +Say less$/m);
  assert.match(help, /-h, --help +Show this help/);
  assert.match(help, /<target> +Where to go/);
});

test('parsing collects repeated options and checks the number of positionals', () => {
  const { values, positionals } = parseCommandArgs(spec, ['-p', '1', '--tag', 'a', 'x', '--tag', 'b']);
  assert.equal(values.port, '1');
  assert.deepEqual(values.tag, ['a', 'b']);
  assert.deepEqual(positionals, ['x']);
  assert.throws(() => parseCommandArgs(spec, []), { name: 'UsageError', message: 'missing argument <target>' });
  assert.throws(() => parseCommandArgs(spec, ['x', 'y']), { name: 'UsageError', message: "unexpected argument 'y'" });
  assert.throws(() => parseCommandArgs(spec, ['x', '--nope']), { name: 'UsageError', message: "Unknown option '--nope'" });
  assert.throws(() => parseCommandArgs(spec, ['x', '--port']), UsageError);
});

test('--help wins over missing arguments', () => {
  assert.equal(parseCommandArgs(spec, ['--help']).values.help, true);
});

test('a command turns a usage error into exit code 2 and any other error into 1', async () => {
  const io = () => ({ stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() });
  const usage = defineCommand(spec, async () => {
    throw new UsageError('nope');
  });
  const streams = io();
  assert.equal(await usage.run(['x'], streams), 2);
  assert.match(String(streams.stderr.read()), /^volley demo: nope\nUsage: volley demo/);
  const failing = defineCommand(spec, async () => {
    throw new Error('broken');
  });
  const other = io();
  assert.equal(await failing.run(['x'], other), 1);
  assert.equal(String(other.stderr.read()), 'volley demo: broken\n');
});

test('ports are 0-65535', () => {
  assert.equal(parsePort('0'), 0);
  assert.equal(parsePort('65535'), 65535);
  for (const bad of ['65536', '-1', 'http', '', '1.5']) assert.throws(() => parsePort(bad), UsageError, bad);
});

test('byte sizes accept plain numbers and binary units', () => {
  assert.equal(parseByteSize('65536', '--x'), 65536);
  assert.equal(parseByteSize('64KiB', '--x'), 65536);
  assert.equal(parseByteSize('16MiB', '--x'), 16 * 1024 * 1024);
  assert.equal(parseByteSize('1g', '--x'), 1024 ** 3);
  for (const bad of ['0', '-1', '1.5MiB', 'lots', '12 parsecs']) assert.throws(() => parseByteSize(bad, '--x'), UsageError, bad);
  assert.equal(formatBytes(64 * 1024 * 1024), '64 MiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(100), '100 bytes');
});
