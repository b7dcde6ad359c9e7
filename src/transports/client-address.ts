/**
 * The client's address behind a reverse proxy or load balancer. Per-IP limits (connections per IP, the `ip`
 * rate-limit scope) and the `remoteAddress` that hooks see must be the client's, not the balancer's; but
 * `X-Forwarded-For` is a request header anyone can send, so it is believed only as far as the proxies that
 * wrote it are trusted.
 *
 * {@link clientAddressOf} walks the chain from the nearest hop outwards: the TCP peer, then the entries of
 * `X-Forwarded-For` from right to left (each proxy appends the address it received from). The first address that
 * is not a trusted proxy is the client. A peer that is not trusted is the client itself, whatever its header says.
 *
 * @module
 */

import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { invalidArgument } from '../protocol/errors.js';

/**
 * Which proxies may say who the client is:
 * - `false`: none; the client is the TCP peer.
 * - `true`: the TCP peer, whatever its address (one proxy hop): the client is the last `X-Forwarded-For` entry.
 *   Right when nodes are reachable only through one balancer; a client that reaches a node directly could then
 *   choose its address.
 * - a list of addresses and CIDR ranges (`10.0.0.0/8`, `::1`, `fd00::/8`): every proxy with such an address, so
 *   chains of proxies (CDN → balancer) resolve to the client.
 */
export type TrustProxy = boolean | readonly string[];

/** Returns the client's address of a request. */
export type ClientAddress = (req: IncomingMessage) => string;

/** The address without the IPv4-mapped IPv6 form (`::ffff:10.0.0.1` → `10.0.0.1`), so one client has one key. */
function normalize(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** An `X-Forwarded-For` entry as an address: ports (`1.2.3.4:5678`, `[::1]:80`) and brackets dropped; '' if invalid. */
function parseEntry(entry: string): string {
  let text = entry.trim();
  if (text.startsWith('[')) text = text.slice(1, text.indexOf(']') === -1 ? undefined : text.indexOf(']'));
  else if (isIP(text) === 0 && /^[\d.]+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  return isIP(text) === 0 ? '' : normalize(text);
}

/**
 * Parses a list of trusted proxies into a block list.
 *
 * @throws WebSocketError `VOLLEY_ERR_INVALID_ARGUMENT` naming the first entry that is neither an address nor a CIDR.
 */
export function trustedProxies(list: readonly string[]): BlockList {
  const trusted = new BlockList();
  for (const item of list) {
    const [address = '', bits, ...rest] = String(item).trim().split('/');
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    try {
      if (isIP(address) === 0 || rest.length > 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) throw new RangeError(item);
      if (bits === undefined) trusted.addAddress(address, type);
      else trusted.addSubnet(address, Number(bits), type);
    } catch {
      invalidArgument(`trustProxy: ${JSON.stringify(item)} is not an IP address or a CIDR range`);
    }
  }
  return trusted;
}

/**
 * The function that finds a request's client address under `trust`.
 *
 * @example
 * ```ts
 * const clientAddress = clientAddressOf(['10.0.0.0/8']);
 * clientAddress(req); // '203.0.113.7' for a peer 10.0.0.2 sending X-Forwarded-For: 203.0.113.7
 * ```
 */
export function clientAddressOf(trust: TrustProxy = false): ClientAddress {
  if (trust === false) return (req) => req.socket.remoteAddress ?? '';
  const list = trust === true ? null : trustedProxies(trust);
  const isTrusted = (address: string, hop: number): boolean => {
    if (list === null) return hop === 0;
    return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  };
  return (req) => {
    let client = normalize(req.socket.remoteAddress ?? '');
    const header = req.headers['x-forwarded-for'];
    // Node joins repeated X-Forwarded-For headers with ", ", in order.
    const hops = typeof header === 'string' ? header.split(',') : [];
    for (let hop = 0; isIP(client) !== 0 && isTrusted(client, hop) && hops.length > 0; hop++) {
      const next = parseEntry(hops.pop()!);
      // A malformed entry ends the chain: the trusted proxy that passed it on is the best we know.
      if (next === '') break;
      client = next;
    }
    return client;
  };
}
