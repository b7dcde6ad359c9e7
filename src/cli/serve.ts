/**
 * `volley serve`: runs one Volley hub node — WebSocket hub at `/ws`, HTTP API at `/api/`, Prometheus metrics
 * at `/metrics`, health at `/healthz`, a status page at `/` — on the embedded default: memory broker and
 * SQLite history in `./volley-data`; or, with `--redis URL`, as one of several nodes sharing Redis
 * (docs/scaling.md).
 *
 * Configuration comes from defaults < a config file < environment variables < flags (server/config.ts); a
 * configuration mistake prints one line naming the key and its source and exits with 2. Once listening it
 * prints `volley serve listening on http://HOST:PORT (ws: ws://HOST:PORT/ws)`; logs are pino JSON lines on
 * stdout. SIGTERM or SIGINT drains (clients are told to reconnect elsewhere) and exits with 0; a second
 * signal stops waiting for clients.
 *
 * This module also runs on its own: `node dist/cli/serve.js [options]`.
 *
 * @example
 * ```ts
 * process.exitCode = await runServe(['--port', '0', '--memory', '--api-key', key]);
 * ```
 *
 * @module
 */

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ConfigError, CONFIG_DEFAULTS, type ConfigFlags } from '../server/config.js';
import { loadConfig } from '../server/config.js';
import { createVolleyServer } from '../server/create.js';
import { defineCommand, EXIT_USAGE, type CliIo, type CommandSpec } from './command.js';
import { onShutdownSignal } from './signals.js';

const spec: CommandSpec = {
  name: 'volley serve',
  summary: 'Run a Volley hub node: WebSocket hub, HTTP API, metrics',
  synopsis: '[options]',
  options: {
    port: {
      type: 'string',
      short: 'p',
      value: 'PORT',
      default: String(CONFIG_DEFAULTS.port),
      description: 'Port to listen on; 0 picks a free port [env VOLLEY_PORT]',
    },
    host: {
      type: 'string',
      value: 'HOST',
      default: CONFIG_DEFAULTS.host,
      description: 'Address to bind; 127.0.0.1 keeps the hub local [env VOLLEY_HOST]',
    },
    'api-key': {
      type: 'string',
      value: 'KEY',
      default: 'none: the HTTP API is off',
      description: 'Enable the HTTP API with this key; prefer the env var, flags show in ps [env VOLLEY_API_KEY]',
    },
    'allow-anonymous': {
      type: 'boolean',
      default: 'false',
      description: 'Accept clients without a token; the default namespace opens to anyone [env VOLLEY_ALLOW_ANONYMOUS]',
    },
    config: {
      type: 'string',
      value: 'FILE',
      default: './volley.config.json if present',
      description: 'Config file: .json, .mjs/.js (default export), .ts on Node >= 22.6 [env VOLLEY_CONFIG]',
    },
    'data-dir': {
      type: 'string',
      value: 'DIR',
      default: CONFIG_DEFAULTS.dataDir,
      description: 'Where SQLite history is kept (DIR/history.db) [env VOLLEY_DATA_DIR]',
    },
    memory: {
      type: 'boolean',
      default: 'false',
      description: 'Keep history in memory (lost on restart) instead of SQLite [env VOLLEY_HISTORY=memory]',
    },
    redis: {
      type: 'string',
      value: 'URL',
      default: 'none: a single node',
      description: 'Run as one node of many on this Redis: redis://, rediss://, redis+cluster://, redis+sentinel:// [env VOLLEY_REDIS_URL]',
    },
    'redis-prefix': {
      type: 'string',
      value: 'PREFIX',
      default: 'volley:',
      description: 'Prefix of every Redis key and channel; nodes with the same one form one hub [env VOLLEY_REDIS_PREFIX]',
    },
    'trust-proxy': {
      type: 'string',
      value: 'LIST',
      default: 'false',
      description: 'true, or proxy addresses/CIDRs whose X-Forwarded-For names the client [env VOLLEY_TRUST_PROXY]',
    },
    'node-id': {
      type: 'string',
      value: 'ID',
      default: 'random',
      description: 'This node\'s id in logs, metrics and session ids; unique per hub [env VOLLEY_NODE_ID]',
    },
    'log-level': {
      type: 'string',
      value: 'LEVEL',
      default: CONFIG_DEFAULTS.logLevel,
      description: 'fatal, error, warn, info, debug, trace or silent [env VOLLEY_LOG_LEVEL]',
    },
  },
  notes: [
    'Precedence: defaults < config file < environment variables < flags. Settings without a flag:',
    '  VOLLEY_TOKEN_HMAC_SECRET   HS256 secret for client tokens (JWT), at least 32 bytes',
    '  VOLLEY_TOKEN_PUBLIC_KEY    PEM public key for RS256/ES256 tokens (\\n escapes allowed)',
    '  VOLLEY_TOKEN_JWKS_URL      JWKS URL for RS256/ES256 tokens',
    '  VOLLEY_ALLOWED_ORIGINS     comma-separated browser origins allowed to connect (default: any)',
    'Everything else (namespaces, limits, rate limits, websocket, api, shutdown) is set in the config file;',
    'docs/operations.md lists every field with its default.',
    '',
    'Prints "volley serve listening on http://HOST:PORT (ws: ws://HOST:PORT/ws)" once ready; logs are JSON lines',
    'on stdout. SIGTERM or SIGINT drains: clients are told to reconnect elsewhere (1001), the node waits for',
    'them (shutdown.drainMs), closes and exits with 0. A second signal stops waiting. Configuration errors exit',
    'with 2.',
  ].join('\n'),
};

/** The `volley serve` command (for the `COMMANDS` table of cli/main.ts). */
export const serveCommand = defineCommand(spec, async ({ values }, io) => {
  let loaded;
  try {
    loaded = await loadConfig({ flags: values as ConfigFlags });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`volley serve: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
  const server = await createVolleyServer(loaded.config);
  if (loaded.file !== undefined) server.logger.info({ file: loaded.file }, 'configuration file loaded');
  for (const warning of loaded.warnings) server.logger.warn(warning);
  // Signal handlers go in before the port opens: a signal that finds no listener kills the process outright.
  let signalled = false;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const stop = onShutdownSignal({
    first: (signal) => {
      signalled = true;
      server.logger.info({ signal }, 'shutting down');
      void server.shutdown().then(stopped);
    },
    second: (signal) => {
      server.logger.warn({ signal }, 'second signal: closing without waiting for clients');
      void server.shutdown({ drainMs: 0 });
    },
  });
  let address;
  try {
    address = await server.listen();
  } catch (error) {
    await server.shutdown({ drainMs: 0 });
    stop();
    if (signalled) return 0;
    throw error;
  }
  io.stdout.write(`volley serve listening on ${address.url} (ws: ${address.wsUrl})\n`);
  await done;
  stop();
  return 0;
});

const processIo: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

/**
 * Runs `volley serve` with `argv` (the arguments after `serve`) and resolves to the exit code once the server
 * stopped: 0 after a signal-initiated drain, 1 when it could not start, 2 for a usage or configuration error.
 */
export function runServe(argv: string[], io: CliIo = processIo): Promise<number> {
  return serveCommand.run(argv, io);
}

/** Whether this module is the process's entry point (`node dist/cli/serve.js`). */
function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return pathToFileURL(realpathSync(entry)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isMain()) {
  runServe(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`volley serve: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
