/**
 * The `volley` command line: `volley <command> [options]`. `bin/volley.js` calls {@link main} and uses the
 * number it resolves to as the exit code: 0 success, 1 failure, 2 usage error.
 *
 * Subcommands are entries of {@link COMMANDS}; each parses its own arguments (see `command.ts`).
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { EXIT_USAGE, table, type CliIo, type Command } from './command.js';
import { connectCommand } from './connect.js';
import { echoCommand } from './echo.js';
import { serveCommand } from './serve.js';
import { benchCommand } from './bench/index.js';

/**
 * Every subcommand, in the order `volley --help` lists them. To add one, write `src/cli/<name>.ts` exporting a
 * `Command` built with `defineCommand` and add it here.
 */
export const COMMANDS: Record<string, Command> = {
  connect: connectCommand,
  echo: echoCommand,
  serve: serveCommand,
  // publish: publishCommand,  (publish to a hub channel over the HTTP API)
  bench: benchCommand,
};

const processIo: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

/**
 * Runs the `volley` command line `argv` (the arguments after `volley`) and resolves to the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['echo', '--port', '9001']);
 * ```
 */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr.write(`volley: no command given\n\n${usage()}`);
    return EXIT_USAGE;
  }
  if (first === '--help' || first === '-h') {
    io.stdout.write(usage());
    return 0;
  }
  if (first === 'help') {
    if (rest.length === 0) {
      io.stdout.write(usage());
      return 0;
    }
    return main([rest[0]!, '--help'], io);
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (command === undefined) {
    const what = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`;
    io.stderr.write(`volley: ${what}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  return command.run(rest, io);
}

/** The top-level help. */
export function usage(): string {
  return [
    'Usage: volley <command> [options]',
    '',
    'Real-time messaging over WebSockets.',
    '',
    'Commands:',
    ...table(Object.entries(COMMANDS).map(([name, command]) => [name, command.summary])),
    '',
    'Options:',
    ...table([
      ['-h, --help', 'Show this help (volley help <command> for a command)'],
      ['-v, --version', 'Print the version'],
    ]),
    '',
    "Run 'volley <command> --help' for the options of a command.",
    '',
  ].join('\n');
}

/** The version in package.json (dist/cli/main.js → ../../package.json). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}
