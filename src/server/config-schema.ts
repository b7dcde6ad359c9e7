/**
 * The shape of `volley serve`'s configuration as data: a small schema per field, one validator that walks a
 * value against it (refusing unknown keys and wrong types with the key's dotted path), and the defaults.
 *
 * The validator builds a fresh value from what it checked: only known keys are copied, namespace names are
 * checked before they become keys, so nothing in a config file can reach a prototype.
 *
 * @module
 */

import { parseRedisUrl } from '../engines/redis/url.js';
import { RESERVED_NAMES } from '../hub/validate.js';
import { trustedProxies } from '../transports/client-address.js';

/** One field's schema. */
export type Schema =
  | { readonly kind: 'integer'; readonly min: number; readonly max?: number }
  | { readonly kind: 'number'; readonly min: number; readonly exclusiveMin?: boolean }
  | { readonly kind: 'string'; readonly nonEmpty?: boolean; readonly check?: (value: string) => string | undefined }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'strings'; readonly nonEmpty?: boolean }
  | { readonly kind: 'stringOrStrings' }
  | { readonly kind: 'booleanOrStrings'; readonly check?: (value: readonly string[]) => string | undefined }
  | { readonly kind: 'object'; readonly fields: Readonly<Record<string, Schema>>; readonly orFalse?: boolean }
  | { readonly kind: 'record'; readonly value: Schema };

/** A problem found by {@link validate}: the dotted key and what is wrong with it. */
export class SchemaProblem extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.name = 'SchemaProblem';
    this.key = key;
  }
}

const PERMISSION: Schema = { kind: 'enum', values: ['anyone', 'authenticated', 'capability', 'nobody'] };
const COUNT: Schema = { kind: 'integer', min: 0 };
const POSITIVE: Schema = { kind: 'integer', min: 1 };
const FLAG: Schema = { kind: 'boolean' };

const NAMESPACE: Schema = {
  kind: 'object',
  fields: {
    historySize: COUNT,
    historyTtlMs: COUNT,
    presence: FLAG,
    joinLeave: FLAG,
    countsOnly: FLAG,
    subscribe: PERMISSION,
    publish: PERMISSION,
    history: PERMISSION,
    presenceQuery: PERMISSION,
    maxSubscribers: COUNT,
  },
};

const SCOPE_LIMITS: Schema = {
  kind: 'object',
  orFalse: true,
  fields: {
    commandsPerSecond: { kind: 'number', min: 0, exclusiveMin: true },
    commandsBurst: { kind: 'number', min: 0, exclusiveMin: true },
    bytesPerSecond: { kind: 'number', min: 0, exclusiveMin: true },
    bytesBurst: { kind: 'number', min: 0, exclusiveMin: true },
  },
};

function websocketPathProblem(path: string): string | undefined {
  return /^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(path) ? undefined : 'must be a path starting with "/" (no query, no spaces)';
}

function nodeIdProblem(id: string): string | undefined {
  return /^[A-Za-z0-9_-]{1,32}$/.test(id) ? undefined : 'must be 1-32 of A-Z a-z 0-9 _ -';
}

function redisUrlProblem(url: string): string | undefined {
  try {
    parseRedisUrl(url);
    return undefined;
  } catch (error) {
    // The parser's messages never repeat the password.
    return `is not a Redis URL: ${(error as Error).message}`;
  }
}

function redisPrefixProblem(prefix: string): string | undefined {
  return prefix.length <= 64 && !/[{}]/.test(prefix) ? undefined : 'must be at most 64 characters without { or }';
}

function trustProxyProblem(list: readonly string[]): string | undefined {
  try {
    trustedProxies(list);
    return undefined;
  } catch (error) {
    // Starting with a quote, the message is shown as it is: `"trustProxy": "foo" is not an IP address…`.
    return (error as Error).message.replace(/^trustProxy: /, '"trustProxy": ');
  }
}

function hostProblem(host: string): string | undefined {
  return /^[A-Za-z0-9.:_%-]+$/.test(host) ? undefined : 'must be a host name or an IP address';
}

/** The schema of the whole configuration (every field optional in a source). */
export const CONFIG_SCHEMA: Schema = {
  kind: 'object',
  fields: {
    $schema: { kind: 'string' },
    port: { kind: 'integer', min: 0, max: 65535 },
    host: { kind: 'string', nonEmpty: true, check: hostProblem },
    apiKey: { kind: 'string', nonEmpty: true },
    nodeId: { kind: 'string', nonEmpty: true, check: nodeIdProblem },
    redis: {
      kind: 'object',
      fields: {
        url: { kind: 'string', nonEmpty: true, check: redisUrlProblem },
        prefix: { kind: 'string', check: redisPrefixProblem },
        sharded: FLAG,
        offlineTimeoutMs: POSITIVE,
        relayTimeoutMs: POSITIVE,
      },
    },
    allowAnonymous: FLAG,
    dataDir: { kind: 'string', nonEmpty: true },
    history: { kind: 'enum', values: ['sqlite', 'memory'] },
    token: {
      kind: 'object',
      fields: {
        hmacSecret: { kind: 'string', nonEmpty: true },
        publicKey: { kind: 'string', nonEmpty: true },
        jwksUrl: { kind: 'string', nonEmpty: true },
        issuer: { kind: 'stringOrStrings' },
        audience: { kind: 'stringOrStrings' },
        requireExpiry: FLAG,
      },
    },
    allowedOrigins: { kind: 'strings' },
    trustProxy: { kind: 'booleanOrStrings', check: trustProxyProblem },
    hooks: {
      kind: 'object',
      fields: {
        connectUrl: { kind: 'string', nonEmpty: true },
        subscribeUrl: { kind: 'string', nonEmpty: true },
        publishUrl: { kind: 'string', nonEmpty: true },
        timeoutMs: { kind: 'integer', min: 1 },
        headers: { kind: 'record', value: { kind: 'string' } },
      },
    },
    namespaces: {
      kind: 'object',
      fields: {
        default: NAMESPACE,
        namespaces: { kind: 'record', value: NAMESPACE },
        strict: FLAG,
      },
    },
    limits: {
      kind: 'object',
      fields: {
        maxSubscriptionsPerConnection: POSITIVE,
        connectTimeoutMs: POSITIVE,
        pingIntervalMs: POSITIVE,
        slowConsumerPolicy: { kind: 'enum', values: ['disconnect', 'drop'] },
        dedupeWindowMs: POSITIVE,
        presenceTtlMs: POSITIVE,
        maxRecoveredPublications: POSITIVE,
        positionCheckIntervalMs: POSITIVE,
        commands: {
          kind: 'object',
          fields: {
            maxChannelLength: POSITIVE,
            maxMethodLength: POSITIVE,
            maxHistoryLimit: POSITIVE,
            maxSubscriptions: POSITIVE,
            maxDepth: { kind: 'integer', min: 4 },
            maxTokenLength: POSITIVE,
          },
        },
      },
    },
    rateLimits: {
      kind: 'object',
      fields: { connection: SCOPE_LIMITS, user: SCOPE_LIMITS, ip: SCOPE_LIMITS, channel: SCOPE_LIMITS, maxKeys: POSITIVE, syncIntervalMs: POSITIVE },
    },
    websocket: {
      kind: 'object',
      fields: {
        path: { kind: 'string', nonEmpty: true, check: websocketPathProblem },
        maxMessageSize: { kind: 'integer', min: 1, max: 2 ** 31 - 1 },
        maxQueueBytes: POSITIVE,
        perMessageDeflate: FLAG,
        maxConnections: COUNT,
        maxConnectionsPerIp: COUNT,
      },
    },
    api: {
      kind: 'object',
      fields: {
        maxBodyBytes: { kind: 'integer', min: 1, max: 2 ** 31 - 1 },
        maxBroadcastChannels: POSITIVE,
      },
    },
    fallbacks: {
      kind: 'object',
      fields: {
        polling: FLAG,
        sse: FLAG,
        pollTimeoutMs: POSITIVE,
        sessionIdleMs: POSITIVE,
        maxQueueBytes: POSITIVE,
        maxBodyBytes: { kind: 'integer', min: 1, max: 2 ** 31 - 1 },
        keepaliveMs: POSITIVE,
        maxSessions: COUNT,
      },
    },
    shutdown: {
      kind: 'object',
      fields: { drainMs: COUNT, reconnectWindowMs: COUNT },
    },
    logLevel: { kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  },
};

/** The schema of the field at dotted `path` (e.g. `token.hmacSecret`). */
export function schemaAt(path: string): Schema {
  let schema = CONFIG_SCHEMA;
  for (const part of path.split('.')) {
    if (schema.kind !== 'object' || !Object.hasOwn(schema.fields, part)) throw new Error(`no config field ${path}`);
    schema = schema.fields[part]!;
  }
  return schema;
}

const NAMESPACE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A short, safe rendering of a key someone typed. */
function quoteKey(key: string): string {
  return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
}

/** The known key closest to `key`, when it is probably a typo of it. */
function suggestion(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** Edit distance with adjacent transpositions (optimal string alignment): `prot` is one edit from `port`. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Infinity;
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row[j] = d;
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * Checks `value` against `schema` and returns a fresh copy of it.
 *
 * @param path the dotted key of `value`, for messages (`''` for the root).
 * @throws SchemaProblem naming the first offending key.
 */
export function validate(value: unknown, schema: Schema, path = ''): unknown {
  const fail = (message: string): never => {
    throw new SchemaProblem(path, message);
  };
  switch (schema.kind) {
    case 'integer': {
      const max = schema.max ?? Number.MAX_SAFE_INTEGER;
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < schema.min || value > max) {
        fail(schema.max === undefined ? `must be an integer ≥ ${schema.min}` : `must be an integer from ${schema.min} to ${max}`);
      }
      return value;
    }
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || value < schema.min || (schema.exclusiveMin === true && value === schema.min)) {
        fail(`must be a number ${schema.exclusiveMin === true ? '>' : '≥'} ${schema.min}`);
      }
      return value;
    case 'string': {
      if (typeof value !== 'string') return fail('must be a string');
      if (schema.nonEmpty === true && value === '') fail('must not be empty');
      const problem = schema.check?.(value);
      if (problem !== undefined) fail(problem);
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail('must be true or false');
      return value;
    case 'enum':
      if (typeof value !== 'string' || !schema.values.includes(value)) fail(`must be one of: ${schema.values.join(', ')}`);
      return value;
    case 'strings':
      if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) fail('must be an array of non-empty strings');
      return [...(value as string[])];
    case 'stringOrStrings':
      if (typeof value === 'string' && value !== '') return value;
      if (Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string' && item !== '')) return [...value];
      return fail('must be a non-empty string or a non-empty array of them');
    case 'booleanOrStrings': {
      if (typeof value === 'boolean') return value;
      if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) return fail('must be true, false or an array of non-empty strings');
      const problem = schema.check?.(value as string[]);
      if (problem !== undefined) fail(problem);
      return [...(value as string[])];
    }
    case 'object': {
      if (schema.orFalse === true && value === false) return false;
      if (!isPlainObject(value)) return fail(schema.orFalse === true ? 'must be an object or false' : 'must be an object');
      const known = Object.keys(schema.fields);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (!Object.hasOwn(schema.fields, key)) {
          const guess = suggestion(key, known);
          throw new SchemaProblem(join(path, key), `unknown key ${quoteKey(join(path, key))}${guess === undefined ? '' : ` (did you mean "${join(path, guess)}"?)`}`);
        }
        const item = value[key];
        if (item === undefined) continue;
        out[key] = validate(item, schema.fields[key]!, join(path, key));
      }
      return out;
    }
    case 'record': {
      if (!isPlainObject(value)) return fail('must be an object');
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (!NAMESPACE_NAME.test(key) || RESERVED_NAMES.has(key)) {
          throw new SchemaProblem(join(path, key), `${quoteKey(key)} is not a namespace name (1-64 letters, digits, _ or -; not a reserved name)`);
        }
        out[key] = validate(value[key], schema.value, join(path, key));
      }
      return out;
    }
  }
}

/** Deep-merges plain objects: `over` wins; arrays and scalars replace; `undefined` leaves `base` as is. */
export function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const key of Object.keys(over)) out[key] = merge(base[key], over[key]);
  return out;
}

/** Sets the field at dotted `path` in a fresh nested object. */
export function nest(path: string, value: unknown): Record<string, unknown> {
  const parts = path.split('.');
  let out: unknown = value;
  for (let i = parts.length - 1; i >= 0; i--) out = { [parts[i]!]: out };
  return out as Record<string, unknown>;
}
