/**
 * What every `volley` subcommand is made of: a declarative spec (options with their defaults) from which both
 * `node:util` `parseArgs` and the `--help` text are derived, so the two never disagree.
 *
 * @module
 */

import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';

/** The streams a command talks to (the process's own, or fakes in tests). */
export interface CliIo {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
}

/** One subcommand: `run` receives the arguments after its name and resolves to the exit code. */
export interface Command {
  /** One line for `volley --help`. */
  summary: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

/** One option of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** One-letter alias (`-H`). */
  short?: string;
  /** May be given several times; the values are collected in order. */
  multiple?: boolean;
  /** Placeholder for the value in the help text (`PORT`). */
  value?: string;
  /** The default as shown in the help text; the command applies it. */
  default?: string;
  description: string;
}

/** Everything `--help` shows and `parseArgs` needs. */
export interface CommandSpec {
  /** The command line as typed, e.g. `volley echo`. */
  name: string;
  summary: string;
  /** Synopsis after the name, e.g. `[options] <url>`. */
  synopsis: string;
  /** Positional arguments: name and meaning. A command takes exactly these. */
  positionals?: readonly { name: string; description: string }[];
  options: Record<string, OptionSpec>;
  /** Free text appended to the help (examples, interactive commands). */
  notes?: string;
}

/** What a parsed command line holds. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** A mistake on the command line: the runner prints it with the usage and exits with 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit code of a usage error (as most Unix tools). */
export const EXIT_USAGE = 2;

/**
 * Builds a {@link Command} from a spec: parses the arguments, answers `--help`, reports usage errors, and
 * hands the parsed values to `handler`. Any other error becomes one line on stderr and exit code 1.
 */
export function defineCommand(spec: CommandSpec, handler: (args: ParsedArgs, io: CliIo) => Promise<number>): Command {
  return {
    summary: spec.summary,
    async run(argv, io) {
      try {
        const args = parseCommandArgs(spec, argv);
        if (args.values.help === true) {
          io.stdout.write(formatHelp(spec));
          return 0;
        }
        return await handler(args, io);
      } catch (error) {
        if (error instanceof UsageError) {
          io.stderr.write(`${spec.name}: ${error.message}\n${usageLine(spec)}\nRun '${spec.name} --help' for all options.\n`);
          return EXIT_USAGE;
        }
        io.stderr.write(`${spec.name}: ${error instanceof Error ? error.message : String(error)}\n`);
        return 1;
      }
    },
  };
}

/** Parses `argv` strictly against `spec` (plus `-h/--help`); every mistake is a {@link UsageError}. */
export function parseCommandArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, option] of Object.entries(spec.options)) {
    options[name] = { type: option.type, ...(option.short ? { short: option.short } : {}), ...(option.multiple ? { multiple: true } : {}) };
  }
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true }) as ParsedArgs;
  } catch (error) {
    throw new UsageError(shortParseError(error));
  }
  if (parsed.values.help === true) return parsed;
  const expected = spec.positionals ?? [];
  if (parsed.positionals.length > expected.length) {
    throw new UsageError(`unexpected argument '${parsed.positionals[expected.length]}'`);
  }
  if (parsed.positionals.length < expected.length) {
    throw new UsageError(`missing argument <${expected[parsed.positionals.length]!.name}>`);
  }
  return parsed;
}

/** `parseArgs` messages carry a long hint about `--`; keep the first sentence. */
function shortParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cut = message.indexOf('. ');
  return cut === -1 ? message : message.slice(0, cut);
}

/** `Usage: volley echo [options]`. */
export function usageLine(spec: CommandSpec): string {
  return `Usage: ${spec.name} ${spec.synopsis}`;
}

/** The full `--help` text of a command: synopsis, arguments, every option with its default, notes. */
export function formatHelp(spec: CommandSpec): string {
  const lines = [usageLine(spec), '', spec.summary, ''];
  if (spec.positionals && spec.positionals.length > 0) {
    lines.push('Arguments:');
    lines.push(...table(spec.positionals.map((p) => [`<${p.name}>`, p.description])), '');
  }
  const rows: [string, string][] = Object.entries(spec.options).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : '    '}--${name}${option.type === 'string' ? ` ${option.value ?? 'VALUE'}` : ''}`;
    const extras = [option.multiple ? 'repeatable' : '', option.default !== undefined ? `default: ${option.default}` : '']
      .filter(Boolean)
      .join('; ');
    return [flag, extras ? `${option.description} (${extras})` : option.description];
  });
  rows.push(['-h, --help', 'Show this help']);
  lines.push('Options:', ...table(rows));
  if (spec.notes) lines.push('', spec.notes.trimEnd());
  return `${lines.join('\n')}\n`;
}

/** Two aligned columns, indented by two spaces. */
export function table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}

/** A TCP port (0 = any free port). */
export function parsePort(text: string, option = '--port'): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${option} must be a port number 0-65535, not '${text}'`);
  return Number(text);
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/** A byte count: `65536`, `64KiB`, `16MiB`, `1GiB` (binary units; `k`, `m`, `g` as shorthands). */
export function parseByteSize(text: string, option: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
  const bytes = match && unit !== undefined ? Number(match[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`${option} must be a positive byte count (e.g. 65536 or 16MiB), not '${text}'`);
  return bytes;
}

/** `64 MiB`, `1.5 KiB`, `12 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = '';
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}
