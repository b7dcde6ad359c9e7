/**
 * Test helpers of the Redis engines: find out once whether the Redis at `REDIS_URL` answers, skip (or, with
 * `CI=true`, fail) when it does not, and give each test its own key prefix and delete its keys afterwards. The
 * Redis is shared, so nothing here ever flushes a database.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { after, type TestContext } from 'node:test';
import { Cluster } from 'ioredis';
import { guardProcess } from '../../../test-support/process-guard.js';
import { presentOrSkip } from '../../../test-support/requirements.js';
import { type RedisClient, type RedisConnectionOptions, createRedisClients } from '../connection.js';

/** The Redis the tests use. */
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Connection options for tests: connection errors are expected in some tests and must not print warnings. */
export const QUIET: RedisConnectionOptions = { onError: () => {} };

let probe: Promise<string | undefined> | undefined;

/** Resolves to `undefined` when Redis answers `PING` within a second, else to the reason it does not. */
export function probeRedis(): Promise<string | undefined> {
  probe ??= (async () => {
    const clients = createRedisClients(REDIS_URL, { ...QUIET, offlineTimeoutMs: 1_000, connectTimeoutMs: 1_000 });
    try {
      await clients.command.call('probe', 'PING', []);
      return undefined;
    } catch (error) {
      return `Redis at ${REDIS_URL} is unreachable (${error instanceof Error ? error.message : String(error)})`;
    } finally {
      await clients.close();
    }
  })();
  return probe;
}

/**
 * True when Redis is reachable. Otherwise skips the test with a one-line reason and returns false, except in CI
 * (`CI=true`), where an unreachable Redis fails the test.
 */
export async function redisOrSkip(t: TestContext): Promise<boolean> {
  return presentOrSkip(t, await probeRedis());
}

/** A key prefix no other test uses, e.g. `vt-3f9a0c1b2d4e:`. */
export function randomPrefix(): string {
  return `vt-${randomBytes(6).toString('hex')}:`;
}

/**
 * Deletes every key starting with `prefix` (SCAN + UNLINK; never a flush). On a Redis Cluster, SCAN sees one node
 * only: every master is scanned, and keys are unlinked one by one (one command may not span slots).
 */
export async function deleteKeys(client: RedisClient, prefix: string): Promise<void> {
  const redis = client.redis;
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [undefined];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const args = [cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000];
      const [next, keys] = (node === undefined ? await client.call('clean up', 'SCAN', args) : await node.call('SCAN', ...args)) as [string, string[]];
      cursor = next;
      if (node !== undefined) await Promise.all(keys.map((key) => client.call('clean up', 'UNLINK', [key])));
      else if (keys.length > 0) await client.call('clean up', 'UNLINK', keys);
    } while (cursor !== '0');
  }
}

/** A command connection for a test file's own checks. */
export interface Inspector {
  readonly client: RedisClient;
  close(): Promise<void>;
}

/** A command connection for a test file's own checks; close it with `close()`. */
export function inspector(): Inspector {
  const clients = createRedisClients(REDIS_URL, { ...QUIET, prefix: 'inspector' });
  return { client: clients.command, close: () => clients.close() };
}

/** What {@link redisTestFile} returns. */
export interface RedisTestFile {
  /** Why Redis cannot be used, or `undefined` when it answers. */
  readonly unavailable: string | undefined;
  /** An inspector connection when Redis answers. */
  readonly redis: Inspector | undefined;
}

/**
 * The set-up of a Redis engine test file: takes the process guard's baseline (G0), probes Redis and, when it
 * answers, opens an inspector connection. Registers the `after` hook that closes the inspector and asserts that
 * the process is clean. Call it once, at the top level, before anything else is opened.
 */
export async function redisTestFile(): Promise<RedisTestFile> {
  const guard = guardProcess();
  const unavailable = await probeRedis();
  const redis = unavailable === undefined ? inspector() : undefined;
  after(async () => {
    await redis?.close();
    await guard.assertClean();
  });
  return { unavailable, redis };
}

/** A store a test made on its own key prefix, and the cleanup that closes it and deletes its keys. */
export function ownedStore<S extends { close(): Promise<void> }>(store: S, prefix: string, redis: Inspector): { store: S; prefix: string; cleanup(): Promise<void> } {
  return {
    store,
    prefix,
    cleanup: async () => {
      await store.close();
      await deleteKeys(redis.client, prefix);
    },
  };
}
