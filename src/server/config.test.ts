/**
 * Configuration: defaults, the precedence file < environment < flags, and validation errors that name the key
 * and the source.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig, redactConfig, type LoadConfigOptions } from './config.js';
import { tempDir } from './harness.test.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh working directory with the given files. */
function workdir(files: Record<string, string | object> = {}): string {
  const dir = tempDir('volley-config-');
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

function load(cwd: string, options: Omit<LoadConfigOptions, 'cwd'> = {}) {
  return loadConfig({ env: {}, ...options, cwd });
}

/** Asserts that loading fails with a ConfigError whose message matches every pattern. */
async function assertConfigError(promise: Promise<unknown>, source: string | RegExp, ...patterns: RegExp[]): Promise<ConfigError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`);
    if (typeof source === 'string') assert.equal(error.source, source);
    else assert.match(error.source, source);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('defaults', () => {
  test('port 8080 on 0.0.0.0, SQLite history in ./volley-data, /ws, no API key, no anonymous access', async () => {
    const cwd = workdir();
    const { config, file } = await load(cwd);
    assert.equal(file, undefined);
    assert.equal(config.port, 8080);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.history, 'sqlite');
    assert.equal(config.dataDir, join(cwd, 'volley-data'));
    assert.equal(config.apiKey, undefined);
    assert.equal(config.allowAnonymous, false);
    assert.equal(config.websocket.path, '/ws');
    assert.equal(config.websocket.maxMessageSize, 65_536);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.limits.commands.maxChannelLength, 255);
  });

  test('the HTTP fallbacks are on, with their documented limits', async () => {
    const { config } = await load(workdir());
    assert.deepEqual(config.fallbacks, {
      polling: true,
      sse: true,
      pollTimeoutMs: 25_000,
      sessionIdleMs: 30_000,
      maxQueueBytes: 1_048_576,
      maxBodyBytes: 65_536,
      keepaliveMs: 15_000,
      maxSessions: 0,
    });
  });

  test('warns when no client could ever connect', async () => {
    const { warnings } = await load(workdir());
    assert.ok(warnings.some((w) => /no WebSocket client can connect/.test(w)));
  });
});

describe('precedence', () => {
  const files = { 'volley.config.json': { port: 1111, host: '127.0.0.1', logLevel: 'warn' } };

  test('a config file overrides the defaults', async () => {
    const { config, file } = await load(workdir(files));
    assert.equal(config.port, 1111);
    assert.ok(file?.endsWith('volley.config.json'));
  });

  test('environment variables override the file', async () => {
    const { config } = await load(workdir(files), { env: { VOLLEY_PORT: '2222' } });
    assert.equal(config.port, 2222);
    assert.equal(config.host, '127.0.0.1', 'what the environment does not set stays from the file');
  });

  test('flags override the environment', async () => {
    const { config } = await load(workdir(files), { env: { VOLLEY_PORT: '2222', VOLLEY_LOG_LEVEL: 'debug' }, flags: { port: '3333' } });
    assert.equal(config.port, 3333);
    assert.equal(config.logLevel, 'debug');
  });

  test('nested objects merge field by field', async () => {
    const cwd = workdir({ 'volley.config.json': { token: { issuer: 'https://app.example' } } });
    const secret = 's'.repeat(32);
    const { config } = await load(cwd, { env: { VOLLEY_TOKEN_HMAC_SECRET: secret } });
    assert.deepEqual(config.token, { issuer: 'https://app.example', hmacSecret: secret });
  });

  test('--config and VOLLEY_CONFIG choose the file; --config wins', async () => {
    const cwd = workdir({ 'a.json': { port: 1 }, 'b.json': { port: 2 } });
    assert.equal((await load(cwd, { env: { VOLLEY_CONFIG: 'b.json' } })).config.port, 2);
    assert.equal((await load(cwd, { env: { VOLLEY_CONFIG: 'b.json' }, flags: { config: 'a.json' } })).config.port, 1);
  });

  test('every environment variable sets its field', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const { config } = await load(workdir(), {
      env: {
        VOLLEY_PORT: '9000',
        VOLLEY_HOST: '127.0.0.1',
        VOLLEY_API_KEY: 'k'.repeat(32),
        VOLLEY_ALLOW_ANONYMOUS: 'yes',
        VOLLEY_DATA_DIR: '/var/lib/volley',
        VOLLEY_HISTORY: 'memory',
        VOLLEY_TOKEN_PUBLIC_KEY: pem.trim().replace(/\n/g, '\\n'),
        VOLLEY_LOG_LEVEL: 'error',
        VOLLEY_ALLOWED_ORIGINS: 'https://a.example, https://b.example,',
      },
    });
    assert.equal(config.port, 9000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.apiKey, 'k'.repeat(32));
    assert.equal(config.allowAnonymous, true);
    assert.equal(config.dataDir, '/var/lib/volley');
    assert.equal(config.history, 'memory');
    assert.equal(config.token?.publicKey, pem.trim(), '\\n escapes become line breaks');
    assert.equal(config.logLevel, 'error');
    assert.deepEqual(config.allowedOrigins, ['https://a.example', 'https://b.example']);
  });

  test('an empty environment variable counts as unset', async () => {
    const { config } = await load(workdir(), { env: { VOLLEY_API_KEY: '', VOLLEY_PORT: '' } });
    assert.equal(config.apiKey, undefined);
    assert.equal(config.port, 8080);
  });

  test('every flag sets its field', async () => {
    const { config } = await load(workdir(), {
      flags: { port: '0', host: '::1', 'api-key': 'key', 'allow-anonymous': true, 'data-dir': 'data', memory: true, 'log-level': 'silent' },
    });
    assert.equal(config.port, 0);
    assert.equal(config.host, '::1');
    assert.equal(config.apiKey, 'key');
    assert.equal(config.allowAnonymous, true);
    assert.ok(config.dataDir.endsWith('/data'));
    assert.equal(config.history, 'memory');
    assert.equal(config.logLevel, 'silent');
  });
});

describe('allowAnonymous', () => {
  test("opens the default namespace's subscribe, publish, history and presence queries to anyone", async () => {
    const { config } = await load(workdir(), { flags: { 'allow-anonymous': true } });
    assert.deepEqual(config.namespaces.default, { subscribe: 'anyone', publish: 'anyone', history: 'anyone', presenceQuery: 'anyone' });
  });

  test('keeps what the config sets explicitly', async () => {
    const cwd = workdir({ 'volley.config.json': { allowAnonymous: true, namespaces: { default: { publish: 'capability' } } } });
    const { config } = await load(cwd);
    assert.equal(config.namespaces.default?.publish, 'capability');
    assert.equal(config.namespaces.default?.subscribe, 'anyone');
  });

  test('leaves the namespaces alone when off', async () => {
    const { config } = await load(workdir());
    assert.equal(config.namespaces.default, undefined);
  });
});

describe('validation errors name the key and the source', () => {
  test('an unknown key in the file, with a suggestion', async () => {
    const cwd = workdir({ 'volley.config.json': { websocket: { maxMesageSize: 10 } } });
    const error = await assertConfigError(load(cwd), join(cwd, 'volley.config.json'), /unknown key "websocket\.maxMesageSize"/, /did you mean "websocket\.maxMessageSize"/);
    assert.equal(error.key, 'websocket.maxMesageSize');
  });

  test('a wrong type in the file', async () => {
    const cwd = workdir({ 'volley.config.json': { port: '8080' } });
    await assertConfigError(load(cwd), /volley\.config\.json$/, /"port" must be an integer from 0 to 65535/);
  });

  test('a wrong type deep in the file', async () => {
    const cwd = workdir({ 'volley.config.json': { namespaces: { namespaces: { chat: { presence: 'yes' } } } } });
    await assertConfigError(load(cwd), /volley\.config\.json$/, /"namespaces\.namespaces\.chat\.presence" must be true or false/);
  });

  test('a bad namespace name', async () => {
    const cwd = workdir({ 'volley.config.json': { namespaces: { namespaces: { 'bad name': {} } } } });
    await assertConfigError(load(cwd), /volley\.config\.json$/, /"bad name" is not a namespace name/);
  });

  test('a __proto__ key is refused and pollutes nothing', async () => {
    const cwd = workdir({ 'volley.config.json': '{"__proto__": {"polluted": true}, "limits": {"__proto__": {"x": 1}}}' });
    await assertConfigError(load(cwd), /volley\.config\.json$/, /unknown key "__proto__"/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('a file that is not JSON', async () => {
    const cwd = workdir({ 'volley.config.json': '{ port: 1 }' });
    await assertConfigError(load(cwd), /volley\.config\.json$/, /not valid JSON/);
  });

  test('a top level that is not an object', async () => {
    const cwd = workdir({ 'volley.config.json': '[1]' });
    await assertConfigError(load(cwd), /volley\.config\.json$/, /the configuration must be an object/);
  });

  test('an environment variable', async () => {
    await assertConfigError(load(workdir(), { env: { VOLLEY_PORT: 'eighty' } }), 'environment variable VOLLEY_PORT', /"port" must be an integer/);
    await assertConfigError(load(workdir(), { env: { VOLLEY_ALLOW_ANONYMOUS: 'maybe' } }), 'environment variable VOLLEY_ALLOW_ANONYMOUS', /true or false/);
    await assertConfigError(load(workdir(), { env: { VOLLEY_LOG_LEVEL: 'loud' } }), 'environment variable VOLLEY_LOG_LEVEL', /must be one of: fatal/);
  });

  test('a flag', async () => {
    await assertConfigError(load(workdir(), { flags: { port: '70000' } }), 'flag --port', /"port" must be an integer from 0 to 65535/);
    await assertConfigError(load(workdir(), { flags: { 'log-level': 'verbose' } }), 'flag --log-level', /must be one of/);
    await assertConfigError(load(workdir(), { flags: { host: 'a host' } }), 'flag --host', /host name or an IP address/);
  });

  test('fallback settings: merged field by field, checked by type', async () => {
    const { config } = await load(workdir({ 'volley.config.json': { fallbacks: { sse: false, pollTimeoutMs: 1000 } } }));
    assert.equal(config.fallbacks.sse, false);
    assert.equal(config.fallbacks.polling, true);
    assert.equal(config.fallbacks.pollTimeoutMs, 1000);
    assert.equal(config.fallbacks.sessionIdleMs, 30_000);
    const cwd = workdir({ 'volley.config.json': { fallbacks: { sessionIdleMs: 0 } } });
    await assertConfigError(load(cwd), join(cwd, 'volley.config.json'), /"fallbacks\.sessionIdleMs" must be an integer ≥ 1/);
    const typo = workdir({ 'volley.config.json': { fallbacks: { pollTimeout: 5 } } });
    await assertConfigError(load(typo), join(typo, 'volley.config.json'), /did you mean "fallbacks\.pollTimeoutMs"/);
  });

  test('a value checked by the hub: joinLeave needs presence', async () => {
    const cwd = workdir({ 'volley.config.json': { namespaces: { namespaces: { chat: { joinLeave: true } } } } });
    await assertConfigError(load(cwd), 'configuration', /joinLeave needs presence/);
  });

  test('the backend hooks: URLs from the environment, an unknown hooks key refused', async () => {
    const { config } = await load(workdir(), {
      env: { VOLLEY_HOOK_CONNECT_URL: 'http://127.0.0.1:3000/volley/connect', VOLLEY_HOOK_PUBLISH_URL: 'http://127.0.0.1:3000/volley/publish' },
    });
    assert.deepEqual(config.hooks, { connectUrl: 'http://127.0.0.1:3000/volley/connect', publishUrl: 'http://127.0.0.1:3000/volley/publish' });
    await assertConfigError(load(workdir({ 'volley.config.json': { hooks: { connectURL: 'x' } } })), /volley\.config\.json$/, /connectURL/);
  });

  test('a token secret that is too short', async () => {
    await assertConfigError(load(workdir(), { env: { VOLLEY_TOKEN_HMAC_SECRET: 'short' } }), 'configuration', /"token"/);
  });

  test('a rate limit burst without a rate', async () => {
    const cwd = workdir({ 'volley.config.json': { rateLimits: { user: { commandsBurst: 10 } } } });
    await assertConfigError(load(cwd), 'configuration', /"rateLimits"/, /commandsBurst needs/);
  });

  test('a --config file that does not exist', async () => {
    await assertConfigError(load(workdir(), { flags: { config: 'missing.json' } }), 'flag --config', /does not exist/);
  });

  test('two config files in the working directory', async () => {
    const cwd = workdir({ 'volley.config.json': {}, 'volley.config.mjs': 'export default {}' });
    await assertConfigError(load(cwd), /volley-config-/, /several config files/);
  });
});

describe('module config files', () => {
  test('a .mjs file is imported and its default export used', async () => {
    const cwd = workdir({ 'volley.config.mjs': 'export default { port: 4444, namespaces: { namespaces: { chat: { presence: true } } } };' });
    const { config } = await load(cwd);
    assert.equal(config.port, 4444);
    assert.equal(config.namespaces.namespaces?.chat?.presence, true);
  });

  test('a module without a default export is refused', async () => {
    const cwd = workdir({ 'volley.config.mjs': 'export const port = 1;' });
    await assertConfigError(load(cwd), /volley\.config\.mjs$/, /export default/);
  });

  test('a module default export is validated like JSON', async () => {
    const cwd = workdir({ 'volley.config.mjs': 'export default { prot: 1 };' });
    await assertConfigError(load(cwd), /volley\.config\.mjs$/, /unknown key "prot" \(did you mean "port"\?\)/);
  });

  const stripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);
  test('a .ts file is refused on a Node.js that cannot strip types, saying what to do', { skip: stripsTypes && 'this Node.js strips types' }, async () => {
    const cwd = workdir({ 'volley.config.ts': 'export default { port: 1 } satisfies object;' });
    await assertConfigError(load(cwd), /volley\.config\.ts$/, /Node\.js ≥ 22\.6/, /--experimental-strip-types/, /volley\.config\.json/);
  });
});

describe('other checks', () => {
  test('partial command limits are completed with the defaults', async () => {
    const cwd = workdir({ 'volley.config.json': { limits: { commands: { maxChannelLength: 64 } } } });
    const { config } = await load(cwd);
    assert.equal(config.limits.commands.maxChannelLength, 64);
    assert.equal(config.limits.commands.maxHistoryLimit, 1000);
    assert.equal(config.limits.connectTimeoutMs, 10_000);
  });

  test('warns about unknown VOLLEY_ variables and short API keys', async () => {
    const { warnings } = await load(workdir(), { env: { VOLLEY_PROT: '1', VOLLEY_API_KEY: 'short' } });
    assert.ok(warnings.some((w) => w.includes('VOLLEY_PROT')));
    assert.ok(warnings.some((w) => w.includes('shorter than 16')));
  });

  test('redactConfig hides the API key and the HMAC secret', async () => {
    const { config } = await load(workdir(), { env: { VOLLEY_API_KEY: 'k'.repeat(20), VOLLEY_TOKEN_HMAC_SECRET: 's'.repeat(32) } });
    const text = JSON.stringify(redactConfig(config));
    assert.ok(!text.includes('k'.repeat(20)));
    assert.ok(!text.includes('s'.repeat(32)));
  });
});

describe('redis and nodeId (several nodes on one Redis)', () => {
  test('off by default: a single node', async () => {
    const { config } = await load(workdir());
    assert.equal(config.redis, undefined);
    assert.equal(config.nodeId, undefined);
  });

  test('--redis, VOLLEY_REDIS_URL or the file set it, with the documented defaults', async () => {
    const fromFlag = await load(workdir(), { flags: { redis: 'redis://127.0.0.1:6379', 'redis-prefix': 'app1:', 'node-id': 'web-1' } });
    assert.deepEqual(fromFlag.config.redis, { url: 'redis://127.0.0.1:6379', prefix: 'app1:', sharded: false, offlineTimeoutMs: 2000, relayTimeoutMs: 5000 });
    assert.equal(fromFlag.config.nodeId, 'web-1');
    const fromEnv = await load(workdir(), { env: { VOLLEY_REDIS_URL: 'redis+sentinel://s1:26379,s2/mymaster', VOLLEY_REDIS_PREFIX: 'x:', VOLLEY_NODE_ID: 'n2' } });
    assert.equal(fromEnv.config.redis?.url, 'redis+sentinel://s1:26379,s2/mymaster');
    assert.equal(fromEnv.config.redis?.prefix, 'x:');
    assert.equal(fromEnv.config.nodeId, 'n2');
    const fromFile = await load(workdir({ 'volley.config.json': { redis: { url: 'redis+cluster://a:7000,b:7001', sharded: true } } }));
    assert.equal(fromFile.config.redis?.sharded, true);
    // Sharded Pub/Sub is the default on a cluster URL (plain Pub/Sub there hides a lost node), not elsewhere.
    const clusterDefault = await load(workdir({ 'volley.config.json': { redis: { url: 'redis+cluster://a:7000,b:7001' } } }));
    assert.equal(clusterDefault.config.redis?.sharded, true);
    const clusterOff = await load(workdir({ 'volley.config.json': { redis: { url: 'redis+cluster://a:7000', sharded: false } } }));
    assert.equal(clusterOff.config.redis?.sharded, false);
    assert.equal(fromFile.config.redis?.prefix, 'volley:');
  });

  test('a URL that is not a Redis URL, a bad prefix, a bad node id, or redis settings without a URL', async () => {
    await assertConfigError(load(workdir(), { flags: { redis: 'http://x' } }), 'flag --redis', /"redis\.url" is not a Redis URL: unknown Redis URL scheme/);
    await assertConfigError(load(workdir(), { flags: { redis: 'redis://:secret@h:99999' } }), 'flag --redis', /bad Redis port/);
    await assertConfigError(load(workdir(), { flags: { redis: 'redis://h', 'redis-prefix': 'a{b}' } }), 'flag --redis-prefix', /without \{ or \}/);
    await assertConfigError(load(workdir(), { flags: { 'node-id': 'has space' } }), 'flag --node-id', /1-32 of/);
    await assertConfigError(load(workdir({ 'volley.config.json': { redis: { prefix: 'p:' } } })), 'configuration', /"redis\.url" is required/);
  });

  test('redactConfig hides the Redis password', async () => {
    const { config } = await load(workdir(), { flags: { redis: 'redis://user:s3cret@redis.internal:6379/2' } });
    const redacted = JSON.stringify(redactConfig(config));
    assert.doesNotMatch(redacted, /s3cret/);
    assert.match(redacted, /redis:\/\/user:\[redacted\]@redis\.internal:6379\/2/);
  });

  test('new hub limits are configurable: maxRecoveredPublications, positionCheckIntervalMs', async () => {
    const { config } = await load(workdir({ 'volley.config.json': { limits: { maxRecoveredPublications: 50, positionCheckIntervalMs: 2000 } } }));
    assert.equal(config.limits.maxRecoveredPublications, 50);
    assert.equal(config.limits.positionCheckIntervalMs, 2000);
  });
});

describe('trustProxy', () => {
  test('off by default; true, false or a list from the file, VOLLEY_TRUST_PROXY or --trust-proxy', async () => {
    assert.equal((await load(workdir())).config.trustProxy, false);
    assert.equal((await load(workdir(), { env: { VOLLEY_TRUST_PROXY: 'true' } })).config.trustProxy, true);
    assert.deepEqual((await load(workdir(), { env: { VOLLEY_TRUST_PROXY: '10.0.0.0/8, ::1' } })).config.trustProxy, ['10.0.0.0/8', '::1']);
    assert.equal((await load(workdir({ 'volley.config.json': { trustProxy: true } }), { env: { VOLLEY_TRUST_PROXY: 'off' } })).config.trustProxy, false);
    assert.deepEqual((await load(workdir(), { flags: { 'trust-proxy': '192.0.2.1' } })).config.trustProxy, ['192.0.2.1']);
  });

  test('an entry that is neither an address nor a CIDR range, naming it', async () => {
    await assertConfigError(load(workdir({ 'volley.config.json': { trustProxy: ['10.0.0.0/8', 'balancer.internal'] } })), /volley\.config\.json$/, /"trustProxy": "balancer\.internal" is not an IP address or a CIDR range/);
    await assertConfigError(load(workdir(), { env: { VOLLEY_TRUST_PROXY: '10.0.0.0/40' } }), 'environment variable VOLLEY_TRUST_PROXY', /"10\.0\.0\.0\/40"/);
    await assertConfigError(load(workdir({ 'volley.config.json': { trustProxy: 'yes' } })), /volley\.config\.json$/, /must be true, false or an array/);
  });
});

describe('shared rate limits', () => {
  test('rateLimits.syncIntervalMs is a positive integer', async () => {
    assert.equal((await load(workdir({ 'volley.config.json': { rateLimits: { syncIntervalMs: 50 } } }))).config.rateLimits.syncIntervalMs, 50);
    await assertConfigError(load(workdir({ 'volley.config.json': { rateLimits: { syncIntervalMs: 0 } } })), /volley\.config\.json$/, /"rateLimits\.syncIntervalMs"/);
  });
});
