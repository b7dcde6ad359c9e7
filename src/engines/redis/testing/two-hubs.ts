/**
 * Two hubs ("nodes") on one Redis deployment, for the Cluster and Sentinel tests: each a {@link Hub} on its own
 * {@link RedisEngine}, with the Pub/Sub wiring of `volley serve --redis` ({@link resyncCallbacks}: a
 * {@link HoldingBroker} holds deliveries from a Pub/Sub loss until the hub's resync, `hub.resync` after the broker
 * resubscribed), and clients that speak the hub protocol (JSON) to a session directly, without sockets. Then the
 * scenarios both deployments must pass: order across nodes, recovery, idempotency with and without history,
 * shared rate limits, presence, and no loss across a Pub/Sub outage.
 *
 * @example
 * ```ts
 * const hubs = await startTwoHubs({ url: cluster.url, prefix: randomPrefix() });
 * await checkOrder(hubs, ['feed:a', 'feed:b']);
 * await hubs.close();
 * ```
 *
 * @module
 */

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTokenVerifier } from '../../../hub/auth.js';
import { Hub } from '../../../hub/hub.js';
import type { Session } from '../../../hub/session.js';
import { mintToken, TEST_SECRET } from '../../../hub/testing/tokens.js';
import type { Transport } from '../../../hub/transport.js';
import { HoldingBroker, resyncCallbacks } from '../../../server/redis-node.js';
import { range, waitFor } from '../../contract/support.js';
import { RedisEngine } from '../redis-engine.js';
import { QUIET } from './support.js';

/** A message from the hub, as decoded. */
type Message = Record<string, any>;

/** A client of one hub, talking to its session through an in-memory transport. */
export class MemoryClient {
  /** Every push received (messages without an id), in order. */
  readonly pushes: Message[] = [];
  readonly #session: Session;
  readonly #waiting = new Map<number, (reply: Message) => void>();
  #nextId = 1;
  #closed = false;

  constructor(hub: Hub) {
    const transport: Transport = {
      kind: 'memory',
      encoding: 'json',
      bufferedAmount: 0,
      write: (message) => {
        const parsed = JSON.parse(String(message)) as Message;
        if (typeof parsed['id'] === 'number') {
          this.#waiting.get(parsed['id'])?.(parsed);
          this.#waiting.delete(parsed['id']);
        } else {
          this.pushes.push(parsed);
        }
        return true;
      },
      close: () => void (this.#closed = true),
    };
    this.#session = hub.accept(transport, { remoteAddress: '127.0.0.1', headers: {} });
  }

  /** Sends a command and resolves with its reply (an error reply too), within `timeoutMs`. */
  call(type: string, fields: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<Message> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`no reply to ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.#session.receive(JSON.stringify({ id, type, ...fields }));
    });
  }

  /** Sends a command and returns its result; throws `<code>: <message>` for an error reply. */
  async ok(type: string, fields: Record<string, unknown> = {}): Promise<any> {
    const reply = await this.call(type, fields);
    if (reply['error'] !== undefined) throw new Error(`${type}: ${reply['error'].code}: ${reply['error'].message}`);
    return reply['result'];
  }

  /** Offsets of the publication pushes of `channel`, in arrival order. */
  offsets(channel: string): number[] {
    return this.pushes.filter((p) => p['type'] === 'publication' && p['channel'] === channel).map((p) => p['offset'] as number);
  }

  /** Data of the publication pushes of `channel`, in arrival order. */
  data(channel: string): unknown[] {
    return this.pushes.filter((p) => p['type'] === 'publication' && p['channel'] === channel).map((p) => p['data']);
  }

  /** Pushes other than publications (gaps, joins…). */
  others(): Message[] {
    return this.pushes.filter((p) => p['type'] !== 'publication');
  }

  /** Closes the connection as a transport would. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#session.transportClosed(1000, '');
  }
}

/** One node: its engine, its hub, and how many resyncs it ran after a Pub/Sub outage. */
export interface HubNode {
  readonly engine: RedisEngine;
  readonly hub: Hub;
  /** `onResubscribe` calls of its broker so far. */
  readonly resubscribes: number;
  /** Resyncs that finished (each follows an `onResubscribe`). */
  readonly resyncs: number;
}

/** What {@link startTwoHubs} returns. */
export interface TwoHubs {
  readonly nodes: readonly [HubNode, HubNode];
  /** A connected client of `user` on node `index`, subscribed to `channels` in the connect command. */
  client(index: 0 | 1, user: string, subscriptions?: Record<string, { recover?: { epoch: string; offset: number } }>): Promise<{ client: MemoryClient; connected: any }>;
  /** Closes every client, both hubs and both engines. */
  close(): Promise<void>;
}

/** Namespaces of the scenarios: `ticker:` keeps no history, `room:` has presence. */
const NAMESPACES = {
  default: { publish: 'authenticated', subscribe: 'authenticated', historySize: 1_000, historyTtlMs: 600_000 },
  namespaces: { ticker: { historySize: 0 }, room: { presence: true, presenceQuery: 'authenticated' } },
} as const;

/** Rate limit of every user: 5 commands at once, then 1 per second; synced to Redis every 10 ms. */
const RATE_LIMITS = { user: { commandsPerSecond: 1, commandsBurst: 5 }, syncIntervalMs: 10 };

/** Starts two hubs on the Redis at `url` (any URL form), sharing `prefix`. */
export async function startTwoHubs(options: { url: string; prefix: string; sharded?: boolean }): Promise<TwoHubs> {
  const clients: MemoryClient[] = [];
  let closing = false;
  const nodes = [0, 1].map(() => {
    let hub: Hub | undefined;
    const node = { resubscribes: 0, resyncs: 0 } as { engine: RedisEngine; hub: Hub; resubscribes: number; resyncs: number };
    node.engine = new RedisEngine({
      url: options.url,
      prefix: options.prefix,
      ...(options.sharded !== undefined ? { sharded: options.sharded } : {}),
      connection: { ...QUIET, offlineTimeoutMs: 5_000 },
      broker: {
        ...resyncCallbacks({
          broker: () => broker,
          hub: () => hub,
          closing: () => closing,
          back: () => void node.resubscribes++,
          resynced: () => void node.resyncs++,
        }),
        onError: () => {},
      },
    });
    const broker = new HoldingBroker(node.engine.broker, () => {});
    hub = new Hub({
      broker,
      history: node.engine.history,
      presence: node.engine.presence,
      sharedRateLimits: node.engine.rateLimits,
      idempotency: node.engine.idempotency,
      verifier: createTokenVerifier({ hmacSecret: TEST_SECRET }),
      namespaces: NAMESPACES,
      rateLimits: RATE_LIMITS,
    });
    node.hub = hub;
    return node;
  }) as [HubNode, HubNode];
  await Promise.all(nodes.map((n) => n.engine.clients.command.whenReady('start')));
  return {
    nodes,
    async client(index, user, subscriptions) {
      const client = new MemoryClient(nodes[index].hub);
      clients.push(client);
      const connected = await client.ok('connect', { token: await mintToken({ sub: user }), ...(subscriptions ? { subscriptions } : {}) });
      for (const [channel, result] of Object.entries((connected?.subscriptions ?? {}) as Record<string, any>)) {
        assert.equal(result.error, undefined, `subscribe ${channel}: ${JSON.stringify(result.error)}`);
      }
      return { client, connected };
    },
    async close() {
      closing = true;
      for (const client of clients) client.close();
      for (const node of nodes) node.hub.close();
      await Promise.all(nodes.map((n) => n.engine.close()));
    },
  };
}

/** `{ [channel]: {} }` for the connect command. */
const subscribe = (channels: readonly string[]) => Object.fromEntries(channels.map((c) => [c, {}]));

/**
 * Both nodes publish 60 times to each channel at once (the server API, alternating nodes); subscribers on both
 * nodes get offsets 1..60 of every channel in order, each once.
 */
export async function checkOrder(hubs: TwoHubs, channels: readonly string[]): Promise<void> {
  const subscribers = await Promise.all([hubs.client(0, 'order-a', subscribe(channels)), hubs.client(1, 'order-b', subscribe(channels))]);
  await Promise.all(channels.map((channel) => Promise.all(range(1, 60).map((i) => hubs.nodes[i % 2]!.hub.publish(channel, { i })))));
  for (const { client } of subscribers) {
    await waitFor(() => channels.every((c) => client.offsets(c).length >= 60), 'every publication at every subscriber', 10_000);
    assert.deepEqual(channels.map((c) => client.offsets(c)), channels.map(() => range(1, 60)));
    assert.deepEqual(client.others(), []);
  }
}

/**
 * A client on node B leaves at offset 5; node A publishes 5 more; the client comes back on node A with its
 * position and gets exactly 6..10 replayed (`recovered`).
 */
export async function checkRecovery(hubs: TwoHubs, channel: string): Promise<void> {
  const { client: first, connected: before } = await hubs.client(1, 'recover', subscribe([channel]));
  const { epoch } = before.subscriptions[channel];
  for (let i = 1; i <= 5; i++) await hubs.nodes[0].hub.publish(channel, { i });
  await waitFor(() => first.offsets(channel).length === 5, 'the first five');
  first.close();
  for (let i = 6; i <= 10; i++) await hubs.nodes[0].hub.publish(channel, { i });
  const { connected } = await hubs.client(0, 'recover', { [channel]: { recover: { epoch, offset: 5 } } });
  const result = connected.subscriptions[channel];
  assert.equal(result.recovered, true);
  assert.deepEqual(result.publications.map((p: Message) => p['offset']), [6, 7, 8, 9, 10]);
  assert.deepEqual(result.publications.map((p: Message) => p['data']), range(6, 10).map((i) => ({ i })));
}

/**
 * A publish with an idempotency key on node A, repeated with the same key on node B: one offset and one delivery
 * with history (the append script), one delivery without (the publish-once script).
 */
export async function checkIdempotency(hubs: TwoHubs, withHistory: string, ticker: string): Promise<void> {
  const { client: watcher } = await hubs.client(1, 'idem-watch', subscribe([withHistory, ticker]));
  const { client: onA } = await hubs.client(0, 'idem-a');
  const { client: onB } = await hubs.client(1, 'idem-b');
  const first = await onA.ok('publish', { channel: withHistory, data: 'first', idempotencyKey: 'k1' });
  const again = await onB.ok('publish', { channel: withHistory, data: 'again', idempotencyKey: 'k1' });
  assert.deepEqual(again, first);
  await onA.ok('publish', { channel: ticker, data: 'tick', idempotencyKey: 'k2' });
  await onB.ok('publish', { channel: ticker, data: 'tock', idempotencyKey: 'k2' });
  // Barriers: a publication after the repeats on each channel.
  await hubs.nodes[1].hub.publish(withHistory, 'barrier');
  await hubs.nodes[1].hub.publish(ticker, 'barrier');
  await waitFor(() => watcher.data(withHistory).includes('barrier') && watcher.data(ticker).includes('barrier'), 'the barriers');
  assert.deepEqual(watcher.data(withHistory), ['first', 'barrier']);
  assert.deepEqual(watcher.data(ticker), ['tick', 'barrier']);
}

/**
 * A user spends its burst (5) on node A; node B, which had not seen the user, admits one more and, once it has
 * the answer to that debit, refuses, and so does A: the bucket is shared through Redis.
 */
export async function checkSharedRateLimits(hubs: TwoHubs, channel: string): Promise<void> {
  const { client: onA } = await hubs.client(0, 'limited');
  const { client: onB } = await hubs.client(1, 'limited');
  for (let i = 0; i < 5; i++) await onA.ok('publish', { channel, data: i });
  await sleep(100);
  await onB.ok('publish', { channel, data: 'first on B' });
  // B learns the shared level from the answer to that publish's debit. On a cluster the debit's key and the
  // channel's keys live on different masters, so the publish may be answered first: give the debit a moment.
  await sleep(100);
  const refused = await onB.call('publish', { channel, data: 'one too many' });
  assert.equal(refused['error']?.code, 'rate_limited');
  assert.equal((await onA.call('publish', { channel, data: 'and on A' }))['error']?.code, 'rate_limited');
}

/** Members joined on both nodes are seen from both, with the right counts. */
export async function checkPresence(hubs: TwoHubs, channel: string): Promise<void> {
  const { client: a, connected: ca } = await hubs.client(0, 'present-a', subscribe([channel]));
  const { client: b, connected: cb } = await hubs.client(1, 'present-b', subscribe([channel]));
  for (const client of [a, b]) {
    const presence = await client.ok('presence', { channel });
    assert.deepEqual([presence.clients, presence.users], [2, 2]);
    assert.deepEqual(presence.members.map((m: Message) => m['clientId']).sort(), [ca.clientId, cb.clientId].sort());
  }
}

/**
 * Subscribers on node B; node A publishes 10 per channel, `disrupt()` breaks B's Pub/Sub, A publishes 10 more
 * per channel at once, then 10 after B resynced: every subscriber has offsets 1..30 of every channel in order, no
 * gap, whether the middle ten arrived live or were replayed from history.
 */
export async function checkNoLossAcrossPubSubOutage(hubs: TwoHubs, channels: readonly string[], disrupt: () => Promise<void>): Promise<{ resyncs: number }> {
  const { client } = await hubs.client(1, 'outage', subscribe(channels));
  const publishAll = async (from: number) => {
    for (const channel of channels) for (let i = from; i < from + 10; i++) await hubs.nodes[0].hub.publish(channel, { i });
  };
  await publishAll(1);
  await waitFor(() => channels.every((c) => client.offsets(c).length === 10), 'the first ten');
  const resubscribes = hubs.nodes[1].resubscribes;
  await disrupt();
  await publishAll(11);
  await waitFor(() => hubs.nodes[1].resubscribes > resubscribes, "node B's broker to resubscribe", 15_000);
  await publishAll(21);
  await waitFor(() => channels.every((c) => client.offsets(c).length >= 30), 'all thirty', 10_000);
  assert.deepEqual(channels.map((c) => client.offsets(c)), channels.map(() => range(1, 30)));
  assert.deepEqual(client.others(), [], 'no gap');
  return { resyncs: hubs.nodes[1].resyncs };
}
