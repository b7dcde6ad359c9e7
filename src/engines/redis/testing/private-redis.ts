/**
 * Private Redis topologies for tests: a Redis Cluster of three masters, or a master, a replica and a Sentinel,
 * each made of `redis-server` processes this module starts on free ports of 127.0.0.1, in a temporary directory,
 * without persistence (`--save '' --appendonly no`). Only `redis-server` (and `redis-cli`, for
 * `--cluster create`) must be installed; the shared Redis of the other tests is not used.
 *
 * Every process is stopped by its PID, and only the processes started here: by `stop()` (call it from an
 * `after` hook), and, should a test file die before its hooks run, by a `process.on('exit')` handler that sends
 * SIGKILL to whatever is still running.
 *
 * @example
 * ```ts
 * const cluster = await startCluster();
 * after(() => cluster.stop());
 * const engine = new RedisEngine({ url: cluster.url, sharded: true });
 * ```
 *
 * @module
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort, portIsFree } from '../../../test-support/net-testing.js';
import { presentOrSkip } from '../../../test-support/requirements.js';

/** The server binary: `REDIS_SERVER`, or `redis-server` on the PATH. */
export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? 'redis-server';
/** The CLI binary: `REDIS_CLI`, or `redis-cli` on the PATH. */
export const REDIS_CLI = process.env['REDIS_CLI'] ?? 'redis-cli';

let missing: string | undefined | null = null;

/** `undefined` when `redis-server` and `redis-cli` run, else the one-line reason they do not. */
export function redisBinariesMissing(): string | undefined {
  if (missing === null) {
    const broken = [REDIS_SERVER, REDIS_CLI].find((binary) => spawnSync(binary, ['--version'], { stdio: 'ignore' }).status !== 0);
    missing = broken === undefined ? undefined : `${broken} is not installed (needed to start a private Redis Cluster or Sentinel)`;
  }
  return missing;
}

/**
 * True when the binaries are there. Otherwise skips the test with a one-line reason and returns false, except in
 * CI (`CI=true`), where their absence fails the test.
 */
export function redisBinariesOrSkip(t: TestContext): boolean {
  return presentOrSkip(t, redisBinariesMissing());
}

/**
 * Every process started by this module and not yet seen to exit, and every directory not yet removed: killed
 * with SIGKILL and removed if this process exits first.
 */
const running = new Set<ChildProcess>();
const directories = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const leftover of running) {
      try {
        if (leftover.pid !== undefined) process.kill(leftover.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const dir of directories) rmSync(dir, { recursive: true, force: true });
  });
}

function track(child: ChildProcess): void {
  installExitHook();
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/** One `redis-server` process started by this module. */
export class RedisProcess {
  readonly port: number;
  readonly pid: number;
  /** The server's log file (in the topology's temporary directory). */
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  constructor(child: ChildProcess, port: number, logFile: string) {
    this.#child = child;
    this.port = port;
    this.pid = child.pid!;
    this.logFile = logFile;
    this.#exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Resolves when the process has exited. */
  get exited(): Promise<void> {
    return this.#exited;
  }

  /** The last lines of the log, for failure messages. */
  tail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Sends `signal` to this process (by its PID) and waits for it to exit; SIGKILL after `graceMs`. Idempotent. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 2_000): Promise<void> {
    if (!this.alive) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // It exited meanwhile.
    }
    const timer = setTimeout(() => {
      try {
        if (this.alive) process.kill(this.pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }, graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** A free port for a redis-server (and, with `busPort`, `port + 10000` free too, for the cluster bus). */
async function serverPort(busPort: boolean): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (!busPort) return port;
    if (port + 10_000 <= 65_535 && (await portIsFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair (port, port + 10000) found on 127.0.0.1');
}

/**
 * Sends one command to the server on `port` over a fresh connection (closed afterwards), within `timeoutMs`.
 * Fails fast when nothing listens.
 */
export async function command(port: number, args: readonly (string | number)[], timeoutMs = 2_000): Promise<unknown> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableReadyCheck: false,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await redis.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    redis.disconnect();
  }
}

/** Polls `check` every 50 ms until it returns true; fails with `what` (and `detail()`) after `timeoutMs`. */
export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs: number, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // Not yet.
    }
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${detail === undefined ? '' : `\n${detail()}`}`);
    await sleep(50);
  }
}

/** The processes of one topology, in one temporary directory. */
class ProcessGroup {
  readonly dir: string;
  readonly processes: RedisProcess[] = [];
  #stopped = false;

  constructor() {
    installExitHook();
    this.dir = mkdtempSync(join(tmpdir(), 'volley-redis-'));
    directories.add(this.dir);
  }

  /**
   * Starts `redis-server` on a free port with `args` (plus the defaults: bind 127.0.0.1, no persistence, files
   * in the group's directory) and waits until it answers PING. Retries on another port when the chosen one was
   * taken meanwhile. `config` is written as the configuration file (Sentinel needs one it can rewrite).
   */
  async start(args: (port: number) => string[], options: { bus?: boolean; config?: (port: number) => string; name?: string } = {}): Promise<RedisProcess> {
    for (let attempt = 1; ; attempt++) {
      assert.ok(!this.#stopped, 'the topology was stopped');
      const port = await serverPort(options.bus === true);
      const name = `${options.name ?? 'redis'}-${port}`;
      const logFile = join(this.dir, `${name}.log`);
      const argv = [
        ...(options.config === undefined ? [] : [writeConfig(join(this.dir, `${name}.conf`), options.config(port))]),
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--dir', this.dir,
        '--logfile', logFile,
        '--daemonize', 'no',
        ...args(port),
      ];
      const child = spawn(REDIS_SERVER, argv, { stdio: 'ignore' });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      track(child);
      const server = new RedisProcess(child, port, logFile);
      this.processes.push(server);
      try {
        await until(async () => !server.alive || (await command(port, ['PING'], 500)) === 'PONG', `redis-server on port ${port} to answer PING`, 5_000, () =>
          server.tail(),
        );
        // Exited at once: most likely the port (or the cluster bus port) was taken meanwhile.
        if (!server.alive) throw new Error(`redis-server on port ${port} exited:\n${server.tail()}`);
        return server;
      } catch (error) {
        await server.stop('SIGKILL');
        if (attempt >= 3) throw error;
      }
    }
  }

  /** Stops every process of the group (SIGTERM, then SIGKILL) and removes the directory. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.processes.map((p) => p.stop()));
    rmSync(this.dir, { recursive: true, force: true });
    directories.delete(this.dir);
  }
}

function writeConfig(file: string, text: string): string {
  writeFileSync(file, text);
  return file;
}

/** `field:value` lines of an `INFO` or `CLUSTER INFO` reply. */
export function infoFields(text: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of String(text).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** A running private Redis Cluster. */
export interface PrivateCluster {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` */
  readonly url: string;
  /** The masters, in order of creation. */
  readonly nodes: readonly RedisProcess[];
  /** Stops every process and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `masters` cluster-enabled servers (node timeout 2 s), joins them with `redis-cli --cluster create`
 * (no replicas) and waits until every node reports `cluster_state:ok`, knows every other node and sees every slot
 * assigned.
 */
export async function startCluster(options: { masters?: number } = {}): Promise<PrivateCluster> {
  const masters = options.masters ?? 3;
  const group = new ProcessGroup();
  try {
    const nodes: RedisProcess[] = [];
    for (let i = 0; i < masters; i++) {
      nodes.push(
        await group.start((port) => ['--cluster-enabled', 'yes', '--cluster-config-file', join(group.dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000'], {
          bus: true,
          name: 'cluster',
        }),
      );
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run(REDIS_CLI, ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], 20_000);
    await until(
      async () => {
        for (const node of nodes) {
          const info = infoFields(await command(node.port, ['CLUSTER', 'INFO']));
          if (info.get('cluster_state') !== 'ok' || info.get('cluster_known_nodes') !== String(masters) || info.get('cluster_slots_ok') !== '16384') return false;
        }
        return true;
      },
      'cluster_state:ok on every node',
      10_000,
      () => nodes.map((n) => n.tail(5)).join('\n'),
    );
    return {
      url: `redis+cluster://${addresses.join(',')}`,
      nodes,
      stop: () => group.stop(),
    };
  } catch (error) {
    await group.stop();
    throw error;
  }
}

/** A running private master, replica and Sentinel. */
export interface PrivateSentinel {
  /** `redis+sentinel://127.0.0.1:<sentinel port>/mymaster` */
  readonly url: string;
  readonly masterName: string;
  readonly sentinel: RedisProcess;
  /** The two data servers: the first started as master, the second as its replica. */
  readonly servers: readonly RedisProcess[];
  /** The port the Sentinel currently names as the master. */
  masterPort(): Promise<number>;
  /**
   * `SENTINEL FAILOVER`, then waits until the Sentinel names the other server and that server says it is a
   * master. Resolves with the new master's port. The old master, still healthy, is demoted by the Sentinel only
   * at its next look at it (up to 10 s later): see {@link demoted}.
   */
  failover(timeoutMs?: number): Promise<number>;
  /** Waits until the server on `port` is a replica of the current master with its link up. */
  demoted(port: number, timeoutMs?: number): Promise<void>;
  /** Stops every process and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a master, a replica of it and one Sentinel monitoring them as `mymaster` (quorum 1, down after 1 s,
 * failover timeout 5 s), and waits until the replica is in sync and the Sentinel knows it as a healthy replica
 * (so that `SENTINEL FAILOVER` can pick it).
 */
export async function startSentinel(options: { masterName?: string } = {}): Promise<PrivateSentinel> {
  const masterName = options.masterName ?? 'mymaster';
  const group = new ProcessGroup();
  try {
    // A replica's full sync otherwise waits repl-diskless-sync-delay (5 s) for more replicas to join.
    const noDelay = ['--repl-diskless-sync-delay', '0'];
    const master = await group.start(() => noDelay, { name: 'master' });
    const replica = await group.start(() => [...noDelay, '--replicaof', '127.0.0.1', String(master.port)], { name: 'replica' });
    await until(
      async () => infoFields(await command(replica.port, ['INFO', 'replication'])).get('master_link_status') === 'up',
      'the replica to sync',
      10_000,
      () => replica.tail(),
    );
    const sentinel = await group.start(() => ['--sentinel'], {
      name: 'sentinel',
      config: (port) =>
        [
          `port ${port}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 1`,
          `sentinel known-replica ${masterName} 127.0.0.1 ${replica.port}`,
          '',
        ].join('\n'),
    });
    const servers = [master, replica];
    const masterPort = async (): Promise<number> => {
      const [, port] = (await command(sentinel.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName])) as [string, string];
      return Number(port);
    };
    /** Whether the Sentinel lists `port` as a replica it could promote. */
    const healthyReplica = async (port: number): Promise<boolean> => {
      const replicas = (await command(sentinel.port, ['SENTINEL', 'REPLICAS', masterName])) as string[][];
      return replicas.some((flat) => {
        const fields = new Map<string, string>();
        for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
        return fields.get('port') === String(port) && fields.get('flags') === 'slave' && fields.get('master-link-status') === 'ok';
      });
    };
    await until(() => healthyReplica(replica.port), 'the Sentinel to know the replica', 15_000, () => sentinel.tail());
    return {
      url: `redis+sentinel://127.0.0.1:${sentinel.port}/${masterName}`,
      masterName,
      sentinel,
      servers,
      masterPort,
      async failover(timeoutMs = 15_000) {
        const before = await masterPort();
        const next = servers.find((s) => s.port !== before)!;
        await until(() => healthyReplica(next.port), 'a replica the Sentinel can promote', timeoutMs, () => sentinel.tail());
        // Everything written so far is on the replica: the failover itself loses nothing.
        const written = Number(infoFields(await command(before, ['INFO', 'replication'])).get('master_repl_offset'));
        await until(
          async () => Number(infoFields(await command(next.port, ['INFO', 'replication'])).get('slave_repl_offset')) >= written,
          'the replica to catch up',
          timeoutMs,
        );
        assert.equal(await command(sentinel.port, ['SENTINEL', 'FAILOVER', masterName]), 'OK');
        await until(
          async () => (await masterPort()) === next.port && infoFields(await command(next.port, ['INFO', 'replication'])).get('role') === 'master',
          `the failover from ${before} to ${next.port}`,
          timeoutMs,
          () => sentinel.tail(),
        );
        return next.port;
      },
      async demoted(port, timeoutMs = 20_000) {
        const master = await masterPort();
        await until(
          async () => {
            const info = infoFields(await command(port, ['INFO', 'replication']));
            return info.get('role') === 'slave' && info.get('master_port') === String(master) && info.get('master_link_status') === 'up';
          },
          `${port} to become a replica of ${master}`,
          timeoutMs,
          () => sentinel.tail(),
        );
      },
      stop: () => group.stop(),
    };
  } catch (error) {
    await group.stop();
    throw error;
  }
}

/** Runs a command to completion within `timeoutMs` (asynchronously, so the event loop keeps running). */
function run(file: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
