/**
 * Parsing of the Redis URLs Volley accepts (`volley serve --redis <url>`):
 *
 * - `redis://[user[:password]@]host[:port][/db]` and `rediss://…` (TLS): one server.
 * - `redis+cluster://[user[:password]@]host:port,host:port…` (or `rediss+cluster://`): seed nodes of a Redis
 *   Cluster; the rest of the topology is discovered. A plain `redis://` URL with `cluster: true` means the same.
 * - `redis+sentinel://[user[:password]@]host:port,host:port…/master-name[/db]` (or `rediss+sentinel://`): Sentinel
 *   addresses and the monitored master's name; the credentials are the master's.
 *
 * Hosts may be names, IPv4 addresses or bracketed IPv6 addresses. The default port is 6379 (26379 for Sentinels).
 * Error messages never repeat the password.
 *
 * @module
 */

import { invalidArgument } from '../errors.js';

/** How the engines reach Redis. */
export type RedisMode = 'standalone' | 'cluster' | 'sentinel';

/** One `host:port`. */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** A parsed Redis URL. */
export interface RedisUrl {
  readonly mode: RedisMode;
  /** `rediss` schemes: connect with TLS (server name checked against the host). */
  readonly tls: boolean;
  /** The server, the cluster seed nodes, or the Sentinels. */
  readonly nodes: readonly RedisNode[];
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Database index (standalone and Sentinel only). @default 0 */
  readonly db: number;
  /** Sentinel only: the name of the monitored master. */
  readonly masterName: string | undefined;
}

const SCHEMES: Record<string, { mode: RedisMode; tls: boolean }> = {
  redis: { mode: 'standalone', tls: false },
  rediss: { mode: 'standalone', tls: true },
  'redis+cluster': { mode: 'cluster', tls: false },
  'rediss+cluster': { mode: 'cluster', tls: true },
  'redis+sentinel': { mode: 'sentinel', tls: false },
  'rediss+sentinel': { mode: 'sentinel', tls: true },
};

/**
 * Parses a Redis URL; with `cluster`, a `redis://` or `rediss://` URL lists cluster seed nodes.
 *
 * @example
 * ```ts
 * parseRedisUrl('redis+sentinel://s1:26379,s2:26379/mymaster/2');
 * // { mode: 'sentinel', nodes: [{ host: 's1', port: 26379 }, …], masterName: 'mymaster', db: 2, … }
 * ```
 * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for anything else (the message never contains the password).
 */
export function parseRedisUrl(url: string, cluster = false): RedisUrl {
  if (typeof url !== 'string') invalidArgument('the Redis URL must be a string');
  const match = /^([a-z+]+):\/\/(?:([^/?#]*)@)?([^/?#@]*)(\/[^?#]*)?$/i.exec(url);
  if (match === null) invalidArgument('the Redis URL must look like redis://host:port (no query string or fragment)');
  const [, schemeText, userinfo, hostList, path = ''] = match;
  const scheme = SCHEMES[schemeText!.toLowerCase()];
  if (scheme === undefined) {
    invalidArgument(`unknown Redis URL scheme ${JSON.stringify(schemeText)}: use ${Object.keys(SCHEMES).join(', ')}`);
  }
  let mode = scheme.mode;
  if (cluster) {
    if (mode === 'sentinel') invalidArgument('cluster: true cannot be combined with a Sentinel URL');
    mode = 'cluster';
  }
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined && userinfo !== '') {
    const colon = userinfo.indexOf(':');
    const user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name');
    username = user === '' ? undefined : user;
    if (colon >= 0) password = decode(userinfo.slice(colon + 1), 'password');
  }
  const defaultPort = mode === 'sentinel' ? 26379 : 6379;
  const nodes = hostList!.split(',').map((part) => parseNode(part, defaultPort));
  if (mode === 'standalone' && nodes.length !== 1) invalidArgument('a redis:// URL names one server; use redis+cluster:// for several');
  const segments = path.split('/').filter((s) => s !== '');
  let db = 0;
  let masterName: string | undefined;
  if (mode === 'sentinel') {
    if (segments.length === 0 || segments.length > 2) invalidArgument('a Sentinel URL must end with /master-name or /master-name/db');
    masterName = decode(segments[0]!, 'master name');
    if (segments.length === 2) db = parseDb(segments[1]!);
  } else if (segments.length > 0) {
    if (mode === 'cluster' || segments.length > 1) invalidArgument(mode === 'cluster' ? 'a cluster URL takes no database path' : 'the URL path must be a database number');
    db = parseDb(segments[0]!);
  }
  return { mode, tls: scheme.tls, nodes, username, password, db, masterName };
}

function parseNode(text: string, defaultPort: number): RedisNode {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(text);
  if (match === null) invalidArgument(`bad Redis host ${JSON.stringify(text.slice(0, 100))}: expected host or host:port`);
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (port < 1 || port > 65535) invalidArgument(`bad Redis port ${port}`);
  return { host, port };
}

function parseDb(text: string): number {
  if (!/^\d{1,5}$/.test(text)) invalidArgument(`bad Redis database ${JSON.stringify(text.slice(0, 20))}: expected a number`);
  return Number(text);
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return invalidArgument(`the Redis URL's ${what} is not valid percent-encoding`);
  }
}
