/**
 * What the Redis Cluster and Sentinel tests share, as they differ only in how their Redis is started: the three
 * engine contract suites (history, presence, broker), and the lifecycle of the private deployment.
 *
 * @module
 */
import { after } from 'node:test';
import { guardProcess } from '../../../test-support/process-guard.js';
import { brokerContract } from '../../contract/broker-contract.js';
import { historyContract } from '../../contract/history-contract.js';
import { presenceContract } from '../../contract/presence-contract.js';
import { RedisBroker, type RedisClients, RedisHistoryStore, RedisPresenceStore, createRedisClients } from '../index.js';
import { QUIET, randomPrefix } from './support.js';

/**
 * Registers the contract suites, named `… ${where}`. `clients` gives connections shared by the stores; `url`
 * where each broker connects on its own (brokers of one test act as separate nodes).
 */
export function redisEngineContracts(where: string, clients: () => Promise<RedisClients>, url: () => Promise<string>): void {
  historyContract(`RedisHistoryStore ${where}`, async () => {
    const store = new RedisHistoryStore({ client: (await clients()).command, prefix: randomPrefix(), publishOnAppend: true });
    return { store, cleanup: () => store.close() };
  });
  presenceContract(`RedisPresenceStore ${where}`, async () => {
    const store = new RedisPresenceStore({ client: (await clients()).command, prefix: randomPrefix() });
    return { store, cleanup: () => store.close() };
  });
  brokerContract(`RedisBroker ${where}`, async () => {
    const at = await url();
    const prefix = randomPrefix();
    const made: RedisBroker[] = [];
    const make = (): RedisBroker => {
      const broker = new RedisBroker({ url: at, prefix, connection: QUIET });
      made.push(broker);
      return broker;
    };
    return { broker: make(), peer: async () => make(), cleanup: async () => void (await Promise.all(made.map((b) => b.close()))) };
  });
}

/**
 * A private Redis deployment for one test file, started on first use, with one shared command connection; both
 * stopped after the file, which must leave no process or handle behind.
 */
export function lazyDeployment<D extends { readonly url: string; stop(): Promise<void> }>(start: () => Promise<D>) {
  const guard = guardProcess();
  let started: Promise<D> | undefined;
  let shared: RedisClients | undefined;
  const deployment = (): Promise<D> => (started ??= start());
  const clients = async (): Promise<RedisClients> => (shared ??= createRedisClients((await deployment()).url, QUIET));
  after(async () => {
    await shared?.close();
    const running = await started?.catch(() => undefined);
    await running?.stop();
    await guard.assertClean();
  });
  return { deployment, clients };
}
