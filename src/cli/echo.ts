/**
 * `volley echo`: a WebSocket echo server on Volley's own `WebSocketServer`, for trying clients and for the
 * Autobahn|Testsuite fuzzingclient. Text comes back as text and binary as binary, byte for byte.
 *
 * It is tuned for conformance testing, not for production: permessage-deflate on (Autobahn sections 12 and 13
 * need it), no heartbeat (Autobahn must not see pings it did not ask for), a 64 MiB message limit (section 9
 * sends 16 MiB messages) and an outbound buffer of twice that, so an echo is never dropped as a slow consumer.
 *
 * @example
 * ```ts
 * const echo = await startEcho({ port: 0 });
 * const ws = new WebSocket(echo.url);
 * // ...
 * await echo.close(); // clients get 1001
 * ```
 *
 * @module
 */

import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from '../socket/index.js';
import { defineCommand, formatBytes, parseByteSize, parsePort, type CommandSpec } from './command.js';
import { onShutdownSignal } from './signals.js';

/** Options of {@link startEcho}. */
export interface EchoOptions {
  /**
   * Port to listen on; 0 picks a free one (see {@link EchoServer.port}).
   * @default 9001
   */
  port?: number;
  /**
   * Address to bind. Loopback by default: an echo server is a test tool, exposing it is a choice.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Accept permessage-deflate (RFC 7692) when the client offers it.
   * @default true
   */
  perMessageDeflate?: boolean;
  /**
   * Largest message echoed, after decompression; bigger ones close with 1009.
   * @default 64 MiB (Autobahn section 9 sends up to 16 MiB)
   */
  maxMessageSize?: number;
}

/** A running echo server. */
export interface EchoServer {
  /** `ws://host:port` with the port actually bound. */
  url: string;
  /** The port actually bound. */
  port: number;
  /** Closes every client with 1001 (going away) and stops listening; resolves once all are gone. */
  close(): Promise<void>;
  /** Drops every client at once, without a closing handshake (e.g. on a second Ctrl-C during close). */
  terminate(): void;
}

/** Default port: the one Autobahn's fuzzingclient configurations conventionally use. */
export const DEFAULT_ECHO_PORT = 9001;
/** Default bind address. */
export const DEFAULT_ECHO_HOST = '127.0.0.1';
/** Default message limit. */
export const DEFAULT_ECHO_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

/**
 * Starts an echo server and resolves once it listens (rejects when it cannot, e.g. the port is taken).
 *
 * @example
 * ```ts
 * const { url, close } = await startEcho({ port: 0, perMessageDeflate: false });
 * ```
 */
export async function startEcho(options: EchoOptions = {}): Promise<EchoServer> {
  const host = options.host ?? DEFAULT_ECHO_HOST;
  const maxMessageSize = options.maxMessageSize ?? DEFAULT_ECHO_MAX_MESSAGE_SIZE;
  const wss = new WebSocketServer({
    port: options.port ?? DEFAULT_ECHO_PORT,
    host,
    perMessageDeflate: options.perMessageDeflate ?? true,
    heartbeat: false,
    maxMessageSize,
    maxBufferedAmount: 2 * maxMessageSize,
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      wss.removeListener('listening', onListening);
      reject(describeListenError(error, host, options.port ?? DEFAULT_ECHO_PORT));
    };
    const onListening = () => {
      wss.removeListener('error', onError);
      resolve();
    };
    wss.once('error', onError);
    wss.once('listening', onListening);
  });
  // After listening, a server error (rare: EMFILE...) must not crash the process.
  wss.on('error', () => {});
  wss.on('connection', echo);
  const port = (wss.address() as AddressInfo).port;
  let closed: Promise<void> | null = null;
  return {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close() {
      closed ??= new Promise((resolve) => wss.close(() => resolve()));
      return closed;
    },
    terminate() {
      for (const ws of wss.clients) ws.terminate();
    },
  };
}

function echo(ws: WebSocket): void {
  // The bytes of a text message were already validated as UTF-8: send them back as a text frame, unconverted.
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  // Errors are reported through 'close'; a listener keeps them from being thrown.
  ws.on('error', () => {});
}

function describeListenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new Error(`port ${port} on ${host} is already in use`);
    case 'EACCES':
      return new Error(`not allowed to listen on port ${port} (ports below 1024 need privileges)`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new Error(`cannot listen on ${host}: no such local address`);
    default:
      return error;
  }
}

const spec: CommandSpec = {
  name: 'volley echo',
  summary: 'Run an echo server (text stays text, binary stays binary); for clients and Autobahn',
  synopsis: '[options]',
  options: {
    port: { type: 'string', short: 'p', value: 'PORT', default: String(DEFAULT_ECHO_PORT), description: 'Port to listen on; 0 picks a free port' },
    host: { type: 'string', value: 'HOST', default: DEFAULT_ECHO_HOST, description: 'Address to bind (0.0.0.0 or :: for all interfaces)' },
    'no-deflate': { type: 'boolean', description: 'Turn permessage-deflate off (it is on by default)' },
    'max-message-size': {
      type: 'string',
      value: 'BYTES',
      default: formatBytes(DEFAULT_ECHO_MAX_MESSAGE_SIZE),
      description: 'Largest message after decompression, else 1009; e.g. 65536, 16MiB',
    },
  },
  notes: [
    'Prints "volley echo listening on ws://HOST:PORT" once ready. SIGINT or SIGTERM closes every client with',
    '1001 (going away) and exits with 0; a second signal drops the remaining clients at once.',
    'No heartbeat pings are sent.',
  ].join('\n'),
};

/** The `volley echo` command. */
export const echoCommand = defineCommand(spec, async ({ values }, io) => {
  const server = await startEcho({
    port: parsePort((values.port as string | undefined) ?? String(DEFAULT_ECHO_PORT)),
    host: (values.host as string | undefined) ?? DEFAULT_ECHO_HOST,
    perMessageDeflate: values['no-deflate'] !== true,
    maxMessageSize:
      values['max-message-size'] === undefined
        ? DEFAULT_ECHO_MAX_MESSAGE_SIZE
        : parseByteSize(values['max-message-size'] as string, '--max-message-size'),
  });
  io.stdout.write(`volley echo listening on ${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = onShutdownSignal({
      first: () => void server.close().then(() => {
        stop();
        resolve();
      }),
      // A second signal: stop waiting for close handshakes; close() then completes at once.
      second: () => server.terminate(),
    });
  });
  return 0;
});
