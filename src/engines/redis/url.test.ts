/**
 * The Redis URLs `volley serve --redis` accepts, and how a connection behaves with no Redis behind it.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { guardProcess } from '../../test-support/process-guard.js';
import { code, sleep, waitFor } from '../contract/support.js';
import { createRedisClients, parseRedisUrl } from './index.js';

const guard = guardProcess();
after(() => guard.assertClean());

describe('parseRedisUrl', () => {
  test('reads a standalone URL with credentials and database', () => {
    assert.deepEqual(parseRedisUrl('redis://user:p%40ss@cache.local:6380/2'), {
      mode: 'standalone',
      tls: false,
      nodes: [{ host: 'cache.local', port: 6380 }],
      username: 'user',
      password: 'p@ss',
      db: 2,
      masterName: undefined,
    });
  });

  test('defaults the port to 6379 and reads rediss:// as TLS and a password without user name', () => {
    const url = parseRedisUrl('rediss://:secret@[::1]');
    assert.deepEqual([url.tls, url.nodes, url.username, url.password, url.db], [true, [{ host: '::1', port: 6379 }], undefined, 'secret', 0]);
  });

  test('reads cluster seed nodes from redis+cluster:// or from a redis:// URL with cluster: true', () => {
    const expected = [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }];
    assert.deepEqual(parseRedisUrl('redis+cluster://n1:7000,n2:7001').nodes, expected);
    assert.equal(parseRedisUrl('redis+cluster://n1:7000,n2:7001').mode, 'cluster');
    const flagged = parseRedisUrl('rediss://n1:7000,n2:7001', true);
    assert.deepEqual([flagged.mode, flagged.tls, flagged.nodes], ['cluster', true, expected]);
  });

  test('reads Sentinels, the master name and a database from redis+sentinel://', () => {
    const url = parseRedisUrl('redis+sentinel://:pw@s1,s2:26380/mymaster/3');
    assert.deepEqual([url.mode, url.nodes, url.masterName, url.db, url.password], [
      'sentinel',
      [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }],
      'mymaster',
      3,
      'pw',
    ]);
  });

  test('keeps an unencoded @ in the password and never repeats the password in an error', () => {
    assert.equal(parseRedisUrl('redis://:p@ss@host:1').password, 'p@ss');
    assert.throws(() => parseRedisUrl('redis://:hunter2@bad host:1'), (error: Error) => {
      code('VOLLEY_ERR_INVALID_ARGUMENT')(error);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  });

  test('rejects unknown schemes, several hosts on redis://, a Sentinel URL without master, and query strings', () => {
    for (const bad of ['http://h:1', 'redis://a:1,b:2', 'redis+sentinel://s1:26379', 'redis://h:1?db=2', 'redis://h:99999', 'redis+cluster://h:1/2', 'redis://h/x']) {
      assert.throws(() => parseRedisUrl(bad), code('VOLLEY_ERR_INVALID_ARGUMENT'), bad);
    }
    assert.throws(() => parseRedisUrl('redis+sentinel://s/m', true), code('VOLLEY_ERR_INVALID_ARGUMENT'));
  });
});

describe('createRedisClients with nothing listening', () => {
  test('rejects a command within offlineTimeoutMs, reports the connection error once, and closes cleanly', async () => {
    const errors: string[] = [];
    const clients = createRedisClients('redis://127.0.0.1:1', { offlineTimeoutMs: 300, onError: (error) => errors.push(error.message) });
    try {
      const started = Date.now();
      await assert.rejects(clients.command.call('ping', 'PING', []), code('VOLLEY_ERR_ENGINE_UNAVAILABLE'));
      assert.ok(Date.now() - started < 1_000);
      await waitFor(() => errors.length > 0, 'the connection error');
      await sleep(400); // several reconnection attempts (50, 100, 200 ms apart)
      assert.equal(errors.length, 1, 'one report per outage, not one per reconnection attempt');
      assert.match(errors[0]!, /ECONNREFUSED/);
    } finally {
      await clients.close();
    }
    await clients.close();
    await assert.rejects(clients.command.call('ping', 'PING', []), code('VOLLEY_ERR_INVALID_STATE'));
  });
});
