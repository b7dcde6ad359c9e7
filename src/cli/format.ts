/**
 * How `volley connect` renders what it receives, and parses what the user types: pure functions, tested alone.
 *
 * @module
 */

import { UsageError } from './command.js';

/** Bytes of a binary message shown as hex. */
export const HEX_PREVIEW_BYTES = 16;

/** `HH:MM:SS.mmm` in local time. */
export function clockTime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * Makes text from the network safe for a terminal: control characters other than tab and newline (ESC above
 * all, which could rewrite the screen) are shown as `\xHH` escapes.
 */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `<binary 5 bytes> 68 65 6c 6c 6f`, with `…` when only the start is shown. */
export function describeBinary(data: Uint8Array): string {
  const shown = Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, HEX_PREVIEW_BYTES));
  const hex = shown.toString('hex').replace(/(..)(?!$)/g, '$1 ');
  const size = `<binary ${data.byteLength} byte${data.byteLength === 1 ? '' : 's'}>`;
  if (data.byteLength === 0) return size;
  return `${size} ${hex}${data.byteLength > HEX_PREVIEW_BYTES ? ' …' : ''}`;
}

/** One received message as printed: `< [12:00:00.000] hello`. */
export function formatIncoming(data: Buffer, isBinary: boolean, at: Date): string {
  return `< [${clockTime(at)}] ${isBinary ? describeBinary(data) : escapeControls(data.toString('utf8'))}`;
}

/** Splits `Name: value` given to `-H`; the value may be empty, the name may not. */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon === -1 ? '' : text.slice(0, colon).trim();
  if (name === '' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new UsageError(`-H expects 'Name: value', not '${text}'`);
  }
  return [name, text.slice(colon + 1).trim()];
}

/** Adds `ws://` to an address typed without a scheme (`localhost:9001/chat`). */
export function withScheme(address: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `ws://${address}`;
}

/** A line typed at the prompt: a message to send, or one of the slash commands. */
export type InputLine =
  | { kind: 'send'; text: string }
  | { kind: 'ping'; data: string }
  | { kind: 'close'; code: number | undefined; reason: string }
  | { kind: 'quit' }
  | { kind: 'help' }
  | { kind: 'invalid'; message: string };

/** The slash commands, for `/help` and `--help`. */
export const SLASH_COMMANDS: readonly (readonly [string, string])[] = [
  ['/ping [data]', 'Send a ping (the pong is printed)'],
  ['/close [code] [reason]', 'Start the closing handshake (default code 1000)'],
  ['/quit', 'Close with 1000 and exit'],
  ['/help', 'List these commands'],
  ['//text', 'Send a message that starts with "/"'],
];

/** Reads one input line: plain text is a message; `/...` is a command; `//...` sends a leading slash. */
export function parseInputLine(line: string): InputLine {
  if (!line.startsWith('/')) return { kind: 'send', text: line };
  if (line.startsWith('//')) return { kind: 'send', text: line.slice(1) };
  const match = /^\/(\S+)\s?(.*)$/s.exec(line);
  const command = match?.[1] ?? '';
  const rest = match?.[2] ?? '';
  switch (command) {
    case 'ping':
      return { kind: 'ping', data: rest };
    case 'close': {
      const parts = /^\s*(\S*)\s*(.*)$/s.exec(rest)!;
      if (parts[1] === '') return { kind: 'close', code: undefined, reason: '' };
      if (!/^\d+$/.test(parts[1]!)) return { kind: 'invalid', message: `/close expects a numeric code, not '${parts[1]}'` };
      return { kind: 'close', code: Number(parts[1]), reason: parts[2]!.trim() };
    }
    case 'quit':
    case 'exit':
      return { kind: 'quit' };
    case 'help':
    case '?':
      return { kind: 'help' };
    default:
      return { kind: 'invalid', message: `unknown command '/${command}' (try /help; '//text' sends a leading slash)` };
  }
}
