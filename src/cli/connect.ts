/**
 * `volley connect <url>`: an interactive WebSocket session, like `wscat`. Each input line is sent as a text
 * message; received messages are printed with a timestamp; `/ping`, `/close`, `/quit` control the connection.
 * With piped input it sends every line, closes with 1000 once the input ends and exits when the closing
 * handshake is done, so it also works in scripts.
 *
 * Received messages go to stdout; status lines (`connected ...`, `closed ...`) and errors go to stderr.
 *
 * @module
 */

import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import type { Writable } from 'node:stream';
import { SendStatus, WebSocket, type ClientOptions } from '../socket/index.js';
import { UsageError, defineCommand, table, type CliIo, type CommandSpec } from './command.js';
import { SLASH_COMMANDS, clockTime, escapeControls, formatIncoming, parseHeader, parseInputLine, withScheme } from './format.js';
import { onShutdownSignal } from './signals.js';

const spec: CommandSpec = {
  name: 'volley connect',
  summary: 'Open an interactive WebSocket session: send input lines, print what arrives',
  synopsis: '[options] <url>',
  positionals: [{ name: 'url', description: 'ws:// or wss:// URL (ws:// is assumed when no scheme is given)' }],
  options: {
    header: { type: 'string', short: 'H', multiple: true, value: "'NAME: VALUE'", description: 'Add a request header' },
    subprotocol: { type: 'string', short: 's', multiple: true, value: 'NAME', description: 'Offer a subprotocol' },
    'no-deflate': { type: 'boolean', description: 'Do not offer permessage-deflate (offered by default)' },
    origin: { type: 'string', short: 'o', value: 'ORIGIN', default: 'none', description: 'Send this Origin header' },
    insecure: {
      type: 'boolean',
      short: 'k',
      default: 'off',
      description: 'Accept any TLS certificate (for self-signed wss:// servers)',
    },
    wait: {
      type: 'string',
      short: 'w',
      value: 'SECONDS',
      default: '0',
      description: 'When the input ends, wait this long for replies before closing',
    },
  },
  notes: [
    'Commands at the prompt:',
    ...table(SLASH_COMMANDS),
    '',
    'Received messages are printed to stdout as "< [HH:MM:SS.mmm] text" (binary: "<binary N bytes> hex...").',
    'Status lines and errors go to stderr. Exit code: 0 after a clean close, 1 otherwise, 2 for a usage error.',
    '',
    'Examples:',
    "  volley connect ws://127.0.0.1:9001 -H 'Authorization: Bearer TOKEN' -s chat.v1",
    "  printf 'hello\\nworld\\n' | volley connect ws://127.0.0.1:9001",
  ].join('\n'),
};

/** The `volley connect` command. */
export const connectCommand = defineCommand(spec, async ({ values, positionals }, io) => {
  const headers: Record<string, string> = {};
  for (const text of (values.header as string[] | undefined) ?? []) {
    const [name, value] = parseHeader(text);
    headers[name] = value;
  }
  const waitText = (values.wait as string | undefined) ?? '0';
  const waitSeconds = Number(waitText);
  if (!/^\d+(\.\d+)?$/.test(waitText) || !Number.isFinite(waitSeconds)) {
    throw new UsageError(`--wait must be a number of seconds, not '${waitText}'`);
  }
  const options: ClientOptions = {
    headers,
    perMessageDeflate: values['no-deflate'] !== true,
    ...(values.origin !== undefined ? { origin: values.origin as string } : {}),
    ...(values.insecure === true ? { tls: { rejectUnauthorized: false } } : {}),
  };
  const address = positionals[0]!;
  if (!URL.canParse(withScheme(address))) throw new UsageError(`invalid URL '${address}'`);
  let ws: WebSocket;
  try {
    ws = new WebSocket(withScheme(address), (values.subprotocol as string[] | undefined) ?? [], options);
  } catch (error) {
    // Bad URL, bad subprotocol, header with CR/LF: the user's input, reported as a usage error.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return new Session(ws, io, waitSeconds * 1000).run();
});

/** One connection from the handshake to the exit code. */
class Session {
  private readonly terminal: boolean;
  private rl: Interface | null = null;
  private opened = false;
  private finished = false;
  private error: Error | null = null;
  private stopSignals: () => void = () => {};
  private resolve: (code: number) => void = () => {};

  constructor(
    private readonly ws: WebSocket,
    private readonly io: CliIo,
    private readonly waitMs: number,
  ) {
    this.terminal = io.stdin.isTTY === true && io.stdout.isTTY === true;
  }

  run(): Promise<number> {
    const { ws } = this;
    ws.on('open', () => this.onOpen());
    ws.on('message', (data: Buffer, isBinary: boolean) => this.out(formatIncoming(data, isBinary, new Date())));
    ws.on('pong', (data: Buffer) => this.out(`< [${clockTime(new Date())}] pong${data.length > 0 ? ` ${escapeControls(data.toString('utf8'))}` : ''}`));
    ws.on('error', (error: Error) => {
      this.error ??= error;
      if (this.opened) this.err(`error: ${describeError(error)}`);
    });
    ws.on('close', (code: number, reason: string, wasClean: boolean) => this.onClose(code, reason, wasClean));
    this.stopSignals = onShutdownSignal({ first: () => this.interrupt(), second: () => ws.terminate() });
    // A reader that went away (`| head -1`) ends the session instead of crashing it.
    this.io.stdout.on('error', this.onOutputError);
    return new Promise((resolve) => (this.resolve = resolve));
  }

  private onOpen(): void {
    this.opened = true;
    const { ws, io } = this;
    this.err(`connected (protocol: ${ws.protocol || 'none'}, extensions: ${ws.extensions || 'none'})`);
    // Input is read only now: lines piped before the handshake completed wait in the stream.
    const rl = createInterface({ input: io.stdin, output: this.terminal ? io.stdout : undefined, terminal: this.terminal, prompt: '> ' });
    this.rl = rl;
    rl.on('line', (line) => this.onLine(line));
    rl.on('close', () => this.onInputEnd());
    rl.on('SIGINT', () => this.interrupt());
    if (this.terminal) rl.prompt();
  }

  private onLine(line: string): void {
    const { ws } = this;
    const input = parseInputLine(line);
    try {
      switch (input.kind) {
        case 'send':
          if (ws.readyState !== WebSocket.OPEN) {
            this.err('not sent: the connection is closing');
          } else if (ws.send(input.text) === SendStatus.BACKPRESSURE) {
            // Stop reading input until the socket catches up, so a large pipe never overruns the send buffer.
            this.rl?.pause();
            void whenWritable(ws).then(() => this.rl?.resume());
          }
          break;
        case 'ping':
          ws.ping(input.data);
          break;
        case 'close':
          ws.close(input.code ?? 1000, input.reason);
          break;
        case 'quit':
          ws.close(1000);
          break;
        case 'help':
          for (const row of table(SLASH_COMMANDS)) this.err(row);
          break;
        case 'invalid':
          this.err(input.message);
          break;
      }
    } catch (error) {
      // A bad /close code or an oversized ping payload: the user's mistake, the connection stays open.
      this.err(error instanceof Error ? error.message : String(error));
    }
    if (this.terminal && !this.finished) this.rl?.prompt();
  }

  /** Input ended (piped input done, Ctrl-D): close normally, after `--wait`. */
  private onInputEnd(): void {
    if (this.finished) return;
    const close = () => {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    };
    if (this.waitMs > 0) setTimeout(close, this.waitMs);
    else close();
  }

  /** First Ctrl-C / SIGTERM: close (or abort the handshake). The second one drops the connection. */
  private interrupt(): void {
    if (this.ws.readyState === WebSocket.CLOSING) {
      this.ws.terminate();
      return;
    }
    if (this.terminal) this.err('closing (Ctrl-C again to drop the connection)');
    this.ws.close(1000);
  }

  private onClose(code: number, reason: string, wasClean: boolean): void {
    this.finished = true;
    this.stopSignals();
    this.io.stdout.removeListener('error', this.onOutputError);
    if (this.opened) {
      this.err(`closed ${code}${reason ? ` ${escapeControls(reason)}` : ''}`);
    } else {
      this.err(`volley connect: ${this.error ? describeError(this.error) : 'the connection was aborted'}`);
    }
    // Closing readline pauses stdin, so an open terminal or pipe no longer keeps the process alive.
    this.rl?.close();
    this.resolve(this.opened && wasClean ? 0 : 1);
  }

  private onOutputError = (): void => {
    this.ws.terminate();
  };

  private out(line: string): void {
    this.write(this.io.stdout, line);
  }

  private err(line: string): void {
    this.write(this.io.stderr, line);
  }

  /** Writes a line; at an interactive prompt, above the line being typed, which is then redrawn. */
  private write(stream: Writable, line: string): void {
    if (this.terminal && this.rl !== null && !this.finished) {
      clearLine(this.io.stdout, 0);
      cursorTo(this.io.stdout, 0);
      stream.write(`${line}\n`);
      this.rl.prompt(true);
    } else {
      stream.write(`${line}\n`);
    }
  }
}

/** The client's errors are already one human line; add what to do where there is something to do. */
export function describeError(error: Error): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  if (/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) return `${error.message} (add --insecure to accept it anyway)`;
  return error.message;
}

/**
 * Resolves when the send buffer has drained below half the high-water mark, or the connection is no longer
 * open. Listens for `'drain'` and also polls `bufferedAmount`, which is what decides.
 */
function whenWritable(ws: WebSocket): Promise<void> {
  const LOW_WATER = 32 * 1024;
  return new Promise((resolve) => {
    const check = () => {
      if (ws.bufferedAmount > LOW_WATER && ws.readyState === WebSocket.OPEN) return;
      clearInterval(timer);
      ws.removeListener('drain', check);
      resolve();
    };
    const timer = setInterval(check, 10);
    ws.on('drain', check);
  });
}
