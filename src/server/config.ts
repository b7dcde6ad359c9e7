/**
 * `volley serve`'s configuration: the model with its defaults, and the loader that layers the sources
 *
 *     defaults  <  config file  <  environment variables  <  command-line flags
 *
 * and validates each source strictly before merging, so a mistake is reported with the key and where it came
 * from (`volley.config.json: unknown key "websocket.maxMesageSize" (did you mean …?)`, `environment variable
 * VOLLEY_PORT: must be …`, `flag --port: …`). `volley serve` exits with code 2 on a {@link ConfigError}.
 *
 * Config files: `--config FILE` (or `VOLLEY_CONFIG`), else the first of `volley.config.json`,
 * `volley.config.mjs`, `volley.config.js`, `volley.config.ts` found in the working directory (two of them at
 * once is an error). JSON is read as JSON; `.mjs`/`.js` are imported and their default export used. A `.ts`
 * file is imported only where Node.js can strip types (Node ≥ 22.6 with `--experimental-strip-types`, on by
 * default from 23.6); on Node 20 it is refused with a message saying to compile it or use JSON.
 *
 * @module
 */

import { existsSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseRedisUrl } from '../engines/redis/url.js';
import { createTokenVerifier, type TokenVerifierOptions } from '../hub/auth.js';
import { createHttpHooks } from '../hub/hooks.js';
import { DEFAULT_HUB_LIMITS, type HubLimits } from '../hub/hub.js';
import { Namespaces, type NamespaceOptions, type NamespacesConfig } from '../hub/namespaces.js';
import { RateLimiter, type RateLimitOptions } from '../hub/rate-limit.js';
import { commandLimits, type CommandLimits } from '../hub/validate.js';
import type { TrustProxy } from '../transports/client-address.js';
import { CONFIG_SCHEMA, SchemaProblem, merge, nest, schemaAt, validate } from './config-schema.js';

/** Where history is kept. */
export type HistoryEngine = 'sqlite' | 'memory';
/** pino log levels (`silent` logs nothing). */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Where the application's backend answers hook requests (each optional). */
export interface HooksConfig {
  readonly connectUrl?: string;
  readonly subscribeUrl?: string;
  readonly publishUrl?: string;
  /** Whole-request deadline per hook call, in ms. @default 3000 */
  readonly timeoutMs?: number;
  /** Extra headers sent to the backend (e.g. a shared secret). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** How connection tokens (JWT) are verified. At least one of `hmacSecret`, `publicKey`, `jwksUrl`. */
export interface TokenConfig {
  /** HS256 secret, at least 32 bytes. Env: `VOLLEY_TOKEN_HMAC_SECRET`. */
  readonly hmacSecret?: string;
  /** PEM public key for RS256/ES256. Env: `VOLLEY_TOKEN_PUBLIC_KEY` (`\n` escapes allowed). */
  readonly publicKey?: string;
  /** JWKS URL (https). Env: `VOLLEY_TOKEN_JWKS_URL`. */
  readonly jwksUrl?: string;
  /** Required `iss`, one of. */
  readonly issuer?: string | readonly string[];
  /** Required `aud`, one of. */
  readonly audience?: string | readonly string[];
  /** Refuse tokens without `exp`. @default false */
  readonly requireExpiry?: boolean;
}

/** The WebSocket endpoint. */
export interface WebSocketConfig {
  /** Upgrade path; other paths get 404. @default '/ws' */
  readonly path: string;
  /** Largest message a client may send, after decompression, in bytes. @default 65536 */
  readonly maxMessageSize: number;
  /** Outbound bytes queued per client before the slow-consumer policy applies. @default 1048576 */
  readonly maxQueueBytes: number;
  /** Negotiate permessage-deflate. Off: compression costs CPU and memory per connection. @default false */
  readonly perMessageDeflate: boolean;
  /** Most WebSocket connections on this node (503 beyond); 0 is unlimited. @default 0 */
  readonly maxConnections: number;
  /** Most connections from one IP (429 beyond); 0 is unlimited. @default 0 */
  readonly maxConnectionsPerIp: number;
}

/** The HTTP API. */
export interface ApiConfig {
  /** Largest request body, in bytes (413 beyond, checked while the body streams). @default 1048576 */
  readonly maxBodyBytes: number;
  /** Most channels in one `/api/broadcast`. @default 1000 */
  readonly maxBroadcastChannels: number;
}

/**
 * The HTTP fallbacks for clients whose WebSockets are blocked: long-polling at `/poll` and Server-Sent Events
 * at `/sse` (docs/protocol.md, "HTTP fallbacks"). They share `allowedOrigins`, tokens and anonymous access with
 * the WebSocket endpoint.
 */
export interface FallbacksConfig {
  /** Serve long-polling (`/poll/open`, `/poll`, `/poll/send`). @default true */
  readonly polling: boolean;
  /** Serve Server-Sent Events (`/sse`, `/sse/send`), including subscribe-by-URL. @default true */
  readonly sse: boolean;
  /** Longest wait of a poll with nothing to deliver before it answers `[]`, in ms. @default 25000 */
  readonly pollTimeoutMs: number;
  /** A long-polling session with no poll in progress for this long is ended, in ms. @default 30000 */
  readonly sessionIdleMs: number;
  /** Outbound bytes queued per session before the slow-consumer policy applies. @default 1048576 */
  readonly maxQueueBytes: number;
  /** Largest command body (`POST …/send`), in bytes (413 and close beyond, checked while it streams). @default 65536 */
  readonly maxBodyBytes: number;
  /** Interval of the `: ping` comments on event streams, in ms. @default 15000 */
  readonly keepaliveMs: number;
  /** Most sessions per fallback transport on this node (503 beyond); 0 is unlimited. @default 0 */
  readonly maxSessions: number;
}

/**
 * Several nodes on one Redis act as one hub (docs/scaling.md): history in Redis Streams, fan-out over Redis
 * Pub/Sub, presence in Redis, and HTTP fallback requests relayed to the node that holds the session. Without
 * it the node stands alone (memory broker and presence, SQLite or memory history).
 */
export interface RedisConfig {
  /**
   * `redis://`, `rediss://`, `redis+cluster://` or `redis+sentinel://` URL (docs/redis.md, "URLs").
   * Env `VOLLEY_REDIS_URL`, flag `--redis`.
   */
  readonly url: string;
  /**
   * Prefix of every key and Pub/Sub channel: nodes with the same prefix on the same Redis form one hub.
   * Env `VOLLEY_REDIS_PREFIX`, flag `--redis-prefix`. @default 'volley:'
   */
  readonly prefix: string;
  /**
   * Sharded Pub/Sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+). On a cluster, plain Pub/Sub is broadcast to every
   * node and a lost connection to one of them goes unreported. @default true on a `redis+cluster://` URL,
   * false otherwise
   */
  readonly sharded: boolean;
  /**
   * How long a command waits for a Redis that is not reachable before it fails (a publish then gets
   * `unavailable`). Short blips are ridden out, a dead Redis fails fast. @default 2000
   */
  readonly offlineTimeoutMs: number;
  /**
   * How long a node waits for the node that holds an HTTP fallback session to answer a relayed request, beyond
   * the request's own wait (a poll's `pollTimeoutMs`), before it answers 503. @default 5000
   */
  readonly relayTimeoutMs: number;
}

/** Graceful shutdown on SIGTERM/SIGINT. */
export interface ShutdownConfig {
  /** How long clients get to close after being told to reconnect elsewhere, in ms. @default 10000 */
  readonly drainMs: number;
  /** Clients are told to reconnect after a random delay within this window, in ms. @default 5000 */
  readonly reconnectWindowMs: number;
}

/** The complete configuration of a Volley server (every field resolved). */
export interface VolleyConfig {
  /** TCP port; 0 picks a free one. Env `VOLLEY_PORT`, flag `--port`. @default 8080 */
  readonly port: number;
  /**
   * Address to bind. Env `VOLLEY_HOST`, flag `--host`.
   * @default '0.0.0.0' — a hub exists to be reached by browsers and backends, and in a container a loopback
   * bind is unreachable. Nothing is open by default: the HTTP API needs a key, clients need a token unless
   * `allowAnonymous`. Use `127.0.0.1` to keep it local.
   */
  readonly host: string;
  /** Enables the HTTP API (`Authorization: apikey KEY`). Env `VOLLEY_API_KEY`, flag `--api-key`. */
  readonly apiKey: string | undefined;
  /**
   * This node's id, in logs, metrics, `/healthz` and HTTP fallback session ids (which name the node holding the
   * session): 1-32 of `A-Z a-z 0-9 _ -`, unique among the nodes of one hub. Env `VOLLEY_NODE_ID`, flag
   * `--node-id`. @default a random 8-hex-digit id per start
   */
  readonly nodeId: string | undefined;
  /**
   * Redis, for several nodes acting as one hub; `history` is then not used (history lives in Redis). Env
   * `VOLLEY_REDIS_URL`, flag `--redis`. @default none: a single node
   */
  readonly redis: RedisConfig | undefined;
  /**
   * Accept clients without a token; the default namespace's subscribe/publish/history/presenceQuery become
   * `anyone` unless set explicitly. Env `VOLLEY_ALLOW_ANONYMOUS`, flag `--allow-anonymous`. @default false
   */
  readonly allowAnonymous: boolean;
  /** Where SQLite history lives (`DATA_DIR/history.db`). Env `VOLLEY_DATA_DIR`, flag `--data-dir`. @default './volley-data' */
  readonly dataDir: string;
  /** History engine. Flag `--memory` selects `memory`. @default 'sqlite' */
  readonly history: HistoryEngine;
  /** Token verification; absent: only anonymous clients (if allowed). */
  readonly token: TokenConfig | undefined;
  /**
   * The application backend decides connect, subscribe and publish over HTTP (docs/security-hub.md, "Hooks").
   * Env `VOLLEY_HOOK_CONNECT_URL`, `VOLLEY_HOOK_SUBSCRIBE_URL`, `VOLLEY_HOOK_PUBLISH_URL`. @default none
   */
  readonly hooks: HooksConfig | undefined;
  /** Browser origins allowed to open WebSockets (403 otherwise). Env `VOLLEY_ALLOWED_ORIGINS`. @default every origin */
  readonly allowedOrigins: readonly string[] | undefined;
  /**
   * Behind a reverse proxy or load balancer: whose `X-Forwarded-For` names the client, so that connections per IP,
   * the `ip` rate limits and hooks see the client's address rather than the proxy's. `true`: the TCP peer (one
   * proxy hop, every node reachable only through it); a list of addresses and CIDR ranges: those proxies (chains
   * too). Env `VOLLEY_TRUST_PROXY` (`true`, `false` or a comma list), flag `--trust-proxy`.
   * @default false — the header is a client's claim unless a trusted proxy wrote it
   */
  readonly trustProxy: TrustProxy;
  /** Namespace settings (after `allowAnonymous` is applied). */
  readonly namespaces: NamespacesConfig;
  /** Hub limits, complete. */
  readonly limits: HubLimits;
  /** Rate limits. @default connection scope only (100 commands/s, 1 MiB/s) */
  readonly rateLimits: RateLimitOptions;
  readonly websocket: WebSocketConfig;
  readonly api: ApiConfig;
  readonly fallbacks: FallbacksConfig;
  readonly shutdown: ShutdownConfig;
  /** Env `VOLLEY_LOG_LEVEL`, flag `--log-level`. @default 'info' */
  readonly logLevel: LogLevel;
}

/** Defaults of every scalar field (objects merge over these). */
export const CONFIG_DEFAULTS = Object.freeze({
  port: 8080,
  host: '0.0.0.0',
  allowAnonymous: false,
  trustProxy: false as TrustProxy,
  dataDir: './volley-data',
  history: 'sqlite' as HistoryEngine,
  websocket: { path: '/ws', maxMessageSize: 65_536, maxQueueBytes: 1_048_576, perMessageDeflate: false, maxConnections: 0, maxConnectionsPerIp: 0 },
  api: { maxBodyBytes: 1_048_576, maxBroadcastChannels: 1000 },
  fallbacks: {
    polling: true,
    sse: true,
    pollTimeoutMs: 25_000,
    sessionIdleMs: 30_000,
    maxQueueBytes: 1_048_576,
    maxBodyBytes: 65_536,
    keepaliveMs: 15_000,
    maxSessions: 0,
  },
  shutdown: { drainMs: 10_000, reconnectWindowMs: 5000 },
  logLevel: 'info' as LogLevel,
});

/** Defaults of the `redis` settings other than `url`. */
export const REDIS_DEFAULTS = Object.freeze({ prefix: 'volley:', offlineTimeoutMs: 2000, relayTimeoutMs: 5000 });

/** A configuration mistake: `source` says where (a file, an environment variable, a flag), `key` what. */
export class ConfigError extends Error {
  readonly source: string;
  readonly key: string;
  constructor(source: string, key: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'ConfigError';
    this.source = source;
    this.key = key;
  }
}

/** One environment variable or flag, the config field it sets, and how its text becomes a value. */
interface Setting {
  readonly path: string;
  readonly parse: (text: string) => unknown;
}

const asText = (text: string): string => text;
const asInteger = (text: string): unknown => (/^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text);
function asBoolean(text: string): unknown {
  const lower = text.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  return text;
}
const asList = (text: string): string[] =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
/** `true`/`false` (and their spellings), else a comma list. */
const asBooleanOrList = (text: string): unknown => {
  const flag = asBoolean(text);
  return typeof flag === 'boolean' ? flag : asList(text);
};
/** PEM keys in environment variables often arrive with `\n` escapes instead of line breaks. */
const asPem = (text: string): string => (text.includes('\n') ? text : text.replace(/\\n/g, '\n'));

/** Environment variables and the fields they set. An empty variable counts as unset. */
export const ENV_SETTINGS: Readonly<Record<string, Setting>> = {
  VOLLEY_PORT: { path: 'port', parse: asInteger },
  VOLLEY_HOST: { path: 'host', parse: asText },
  VOLLEY_API_KEY: { path: 'apiKey', parse: asText },
  VOLLEY_ALLOW_ANONYMOUS: { path: 'allowAnonymous', parse: asBoolean },
  VOLLEY_DATA_DIR: { path: 'dataDir', parse: asText },
  VOLLEY_HISTORY: { path: 'history', parse: asText },
  VOLLEY_TOKEN_HMAC_SECRET: { path: 'token.hmacSecret', parse: asText },
  VOLLEY_TOKEN_PUBLIC_KEY: { path: 'token.publicKey', parse: asPem },
  VOLLEY_TOKEN_JWKS_URL: { path: 'token.jwksUrl', parse: asText },
  VOLLEY_HOOK_CONNECT_URL: { path: 'hooks.connectUrl', parse: asText },
  VOLLEY_HOOK_SUBSCRIBE_URL: { path: 'hooks.subscribeUrl', parse: asText },
  VOLLEY_HOOK_PUBLISH_URL: { path: 'hooks.publishUrl', parse: asText },
  VOLLEY_LOG_LEVEL: { path: 'logLevel', parse: asText },
  VOLLEY_NODE_ID: { path: 'nodeId', parse: asText },
  VOLLEY_REDIS_URL: { path: 'redis.url', parse: asText },
  VOLLEY_REDIS_PREFIX: { path: 'redis.prefix', parse: asText },
  VOLLEY_ALLOWED_ORIGINS: { path: 'allowedOrigins', parse: asList },
  VOLLEY_TRUST_PROXY: { path: 'trustProxy', parse: asBooleanOrList },
};

/** The environment variable naming a config file (like `--config`). */
export const CONFIG_ENV = 'VOLLEY_CONFIG';

/** Command-line values, as `parseArgs` returns them (flag name without `--`). */
export type ConfigFlags = Readonly<Record<string, string | boolean | undefined>>;

/** Flags and the fields they set. */
export const FLAG_SETTINGS: Readonly<Record<string, Setting>> = {
  port: { path: 'port', parse: asInteger },
  host: { path: 'host', parse: asText },
  'api-key': { path: 'apiKey', parse: asText },
  'data-dir': { path: 'dataDir', parse: asText },
  'log-level': { path: 'logLevel', parse: asText },
  'node-id': { path: 'nodeId', parse: asText },
  redis: { path: 'redis.url', parse: asText },
  'redis-prefix': { path: 'redis.prefix', parse: asText },
  'trust-proxy': { path: 'trustProxy', parse: asBooleanOrList },
};

/** Config file names looked for in the working directory, in this order. */
export const CONFIG_FILE_NAMES = ['volley.config.json', 'volley.config.mjs', 'volley.config.js', 'volley.config.ts'] as const;

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Command-line flags (`port`, `host`, `api-key`, `allow-anonymous`, `data-dir`, `memory`, `log-level`, `config`). */
  readonly flags?: ConfigFlags;
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where relative paths and `volley.config.*` are looked up. @default process.cwd() */
  readonly cwd?: string;
}

/** What {@link loadConfig} returns. */
export interface LoadedConfig {
  readonly config: VolleyConfig;
  /** The config file used, if any (absolute path). */
  readonly file: string | undefined;
  /** Things worth telling the operator that are not errors (log them at start). */
  readonly warnings: readonly string[];
}

/**
 * Loads, layers and validates the configuration.
 *
 * @throws ConfigError naming the source and key of the first mistake.
 *
 * @example
 * ```ts
 * const { config, warnings } = await loadConfig({ flags: { port: '0', memory: true } });
 * ```
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const flags = options.flags ?? {};
  const cwd = options.cwd ?? process.cwd();
  const warnings: string[] = [];

  const file = findConfigFile(flags, env, cwd);
  let fromFile: unknown = {};
  if (file !== undefined) fromFile = checked(await readConfigFile(file), '', file);

  let fromEnv: unknown = {};
  for (const [name, setting] of Object.entries(ENV_SETTINGS)) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    fromEnv = merge(fromEnv, nest(setting.path, checked(setting.parse(text), setting.path, `environment variable ${name}`)));
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('VOLLEY_') && !Object.hasOwn(ENV_SETTINGS, name) && name !== CONFIG_ENV) {
      warnings.push(`environment variable ${name} is not a Volley setting and is ignored`);
    }
  }

  let fromFlags: unknown = {};
  for (const [name, setting] of Object.entries(FLAG_SETTINGS)) {
    const text = flags[name];
    if (typeof text !== 'string') continue;
    fromFlags = merge(fromFlags, nest(setting.path, checked(setting.parse(text), setting.path, `flag --${name}`)));
  }
  if (flags['allow-anonymous'] === true) fromFlags = merge(fromFlags, { allowAnonymous: true });
  if (flags.memory === true) fromFlags = merge(fromFlags, { history: 'memory' });

  const layered = merge(merge(merge(structuredClone(CONFIG_DEFAULTS), fromFile), fromEnv), fromFlags) as Record<string, unknown>;
  delete layered.$schema;
  const config = resolveConfig(layered, cwd, warnings);
  return { config, file, warnings };
}

/** Validates one source's value for the field at `path` (`''`: the whole config). */
function checked(value: unknown, path: string, source: string): unknown {
  try {
    return validate(value, path === '' ? CONFIG_SCHEMA : schemaAt(path), path);
  } catch (error) {
    if (error instanceof SchemaProblem) {
      const message =
        error.message.startsWith('unknown key') || error.message.startsWith('"')
          ? error.message
          : error.key === ''
            ? `the configuration ${error.message}`
            : `"${error.key}" ${error.message}`;
      throw new ConfigError(source, error.key, message);
    }
    throw error;
  }
}

/** The config file to read: `--config`, `VOLLEY_CONFIG`, or the one `volley.config.*` in `cwd`. */
function findConfigFile(flags: ConfigFlags, env: Readonly<Record<string, string | undefined>>, cwd: string): string | undefined {
  const explicit = typeof flags.config === 'string' ? { path: flags.config, source: 'flag --config' } : undefined;
  const fromEnv = env[CONFIG_ENV] !== undefined && env[CONFIG_ENV] !== '' ? { path: env[CONFIG_ENV], source: `environment variable ${CONFIG_ENV}` } : undefined;
  const chosen = explicit ?? fromEnv;
  if (chosen !== undefined) {
    const path = resolve(cwd, chosen.path);
    if (!existsSync(path)) throw new ConfigError(chosen.source, 'config', `config file ${path} does not exist`);
    return path;
  }
  const found = CONFIG_FILE_NAMES.map((name) => join(cwd, name)).filter((path) => existsSync(path));
  if (found.length > 1) {
    throw new ConfigError(cwd, 'config', `several config files found (${found.map((p) => p.slice(cwd.length + 1)).join(', ')}): keep one, or choose with --config`);
  }
  return found[0];
}

/** Whether this Node.js can import `.ts` files (type stripping). */
function canStripTypes(): boolean {
  const features = process.features as { typescript?: unknown };
  if (features.typescript) return true;
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.includes('--experimental-strip-types') || flags.includes('--experimental-transform-types');
}

/** Reads a config file: JSON, or the default export of a module. */
async function readConfigFile(path: string): Promise<unknown> {
  const ext = extname(path).toLowerCase();
  if (ext === '.json') {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(path, '', `cannot read the file: ${(error as Error).message}`);
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new ConfigError(path, '', `not valid JSON: ${(error as Error).message}`);
    }
  }
  if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
    if (!canStripTypes()) {
      throw new ConfigError(
        path,
        '',
        `TypeScript config files need Node.js ≥ 22.6 run with --experimental-strip-types (the default from Node.js 23.6); ` +
          `this is Node.js ${process.version}. Compile it to volley.config.mjs, or use volley.config.json`,
      );
    }
  } else if (ext !== '.mjs' && ext !== '.js' && ext !== '.cjs') {
    throw new ConfigError(path, '', 'config files must end in .json, .mjs, .js or .ts');
  }
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new ConfigError(path, '', `cannot load the module: ${(error as Error).message}`);
  }
  if (module.default === undefined) throw new ConfigError(path, '', 'the module must `export default` a config object');
  return module.default;
}

/** Fills defaults, applies `allowAnonymous`, and checks what depends on several fields. */
function resolveConfig(raw: Record<string, unknown>, cwd: string, warnings: string[]): VolleyConfig {
  const semantic = (key: string, run: () => unknown): void => {
    try {
      run();
    } catch (error) {
      throw new ConfigError('configuration', key, `"${key}": ${(error as Error).message}`);
    }
  };
  const allowAnonymous = raw.allowAnonymous as boolean;
  const namespaces = { ...(raw.namespaces as NamespacesConfig | undefined) };
  if (allowAnonymous) {
    const open: Partial<NamespaceOptions> = { subscribe: 'anyone', publish: 'anyone', history: 'anyone', presenceQuery: 'anyone' };
    namespaces.default = { ...open, ...namespaces.default };
  }
  semantic('namespaces', () => new Namespaces(namespaces));

  const rawLimits = (raw.limits ?? {}) as Partial<Omit<HubLimits, 'commands'>> & { commands?: Partial<CommandLimits> };
  let commands: CommandLimits = DEFAULT_HUB_LIMITS.commands;
  semantic('limits.commands', () => (commands = commandLimits(rawLimits.commands)));
  const limits: HubLimits = { ...DEFAULT_HUB_LIMITS, ...rawLimits, commands };

  const rateLimits = (raw.rateLimits ?? {}) as RateLimitOptions;
  semantic('rateLimits', () => new RateLimiter(rateLimits));

  const token = raw.token as TokenConfig | undefined;
  if (token !== undefined) semantic('token', () => createTokenVerifier(tokenVerifierOptions(token)));
  const hooks = raw.hooks as HooksConfig | undefined;
  if (hooks !== undefined) semantic('hooks', () => createHttpHooks(hooks));

  const apiKey = raw.apiKey as string | undefined;
  if (apiKey !== undefined && apiKey.length < 16) warnings.push('the API key is shorter than 16 characters: use a long random key in production');
  if (token === undefined && !allowAnonymous) {
    warnings.push('no token verification is configured and anonymous access is off: no WebSocket client can connect');
  }
  const websocket = raw.websocket as WebSocketConfig;
  const redis = resolveRedis(raw.redis as Partial<RedisConfig> | undefined);

  return {
    port: raw.port as number,
    host: raw.host as string,
    apiKey,
    nodeId: raw.nodeId as string | undefined,
    redis,
    allowAnonymous,
    dataDir: resolve(cwd, raw.dataDir as string),
    history: raw.history as HistoryEngine,
    token,
    hooks,
    allowedOrigins: raw.allowedOrigins as string[] | undefined,
    trustProxy: raw.trustProxy as TrustProxy,
    namespaces,
    limits,
    rateLimits,
    websocket,
    api: raw.api as ApiConfig,
    fallbacks: raw.fallbacks as FallbacksConfig,
    shutdown: raw.shutdown as ShutdownConfig,
    logLevel: raw.logLevel as LogLevel,
  };
}

function isClusterUrl(url: string): boolean {
  try {
    return parseRedisUrl(url).mode === 'cluster';
  } catch {
    return false; // reported where the URL is checked
  }
}

/** The complete Redis settings, or undefined without a URL (other Redis settings alone are a mistake). */
function resolveRedis(raw: Partial<RedisConfig> | undefined): RedisConfig | undefined {
  if (raw === undefined) return undefined;
  if (raw.url === undefined) {
    throw new ConfigError('configuration', 'redis.url', '"redis.url" is required with other redis settings (or set VOLLEY_REDIS_URL, --redis)');
  }
  return { ...REDIS_DEFAULTS, ...raw, url: raw.url, sharded: raw.sharded ?? isClusterUrl(raw.url) };
}

/** A Redis URL without its password, for logs and the status page. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/)([^@/]*)@/i, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon < 0 ? `${scheme}${userinfo}@` : `${scheme}${userinfo.slice(0, colon)}:[redacted]@`;
  });
}

/** The verifier options for a token config. */
export function tokenVerifierOptions(token: TokenConfig): TokenVerifierOptions {
  return {
    ...(token.hmacSecret !== undefined ? { hmacSecret: token.hmacSecret } : {}),
    ...(token.publicKey !== undefined ? { publicKey: token.publicKey } : {}),
    ...(token.jwksUrl !== undefined ? { jwksUrl: token.jwksUrl } : {}),
    ...(token.issuer !== undefined ? { issuer: token.issuer } : {}),
    ...(token.audience !== undefined ? { audience: token.audience } : {}),
    ...(token.requireExpiry !== undefined ? { requireExpiry: token.requireExpiry } : {}),
  };
}

/** The configuration with secrets replaced by `[redacted]`, for logs. */
export function redactConfig(config: VolleyConfig): Record<string, unknown> {
  const redacted = '[redacted]';
  return {
    ...config,
    apiKey: config.apiKey === undefined ? undefined : redacted,
    redis: config.redis === undefined ? undefined : { ...config.redis, url: redactRedisUrl(config.redis.url) },
    // With Redis, history lives there: say so rather than show the unused local setting.
    ...(config.redis !== undefined ? { history: 'redis', dataDir: undefined } : {}),
    token:
      config.token === undefined
        ? undefined
        : { ...config.token, ...(config.token.hmacSecret !== undefined ? { hmacSecret: redacted } : {}) },
  };
}
