/**
 * Names of everything the Redis engines store. All keys of one channel share the hash tag `{channel}`, so they
 * live in one Redis Cluster slot and one Lua script can touch them all; the Pub/Sub channel carries the same tag,
 * so a sharded `SPUBLISH` from inside that script stays in the slot too.
 *
 * ```
 * <prefix>{<channel>}:m        hash    stream meta: e epoch, t top offset, x expiry of the newest publication,
 *                                      h lower bound of the oldest kept publication's expiry
 * <prefix>{<channel>}:s        stream  publications, entry id `<offset>-0`: x expiry, t time, d data, i info
 * <prefix>{<channel>}:i:<h>    hash    idempotency key (h = SHA-256 of the key): e epoch, o offset, t, d, i
 * <prefix>{<channel>}:u:<h>    string  idempotency key of a channel without history (h as above): '1'
 * <prefix>{<channel>}:ph       hash    presence: client id → info JSON
 * <prefix>{<channel>}:pu       hash    presence: client id → user id
 * <prefix>{<channel>}:pn       hash    presence: user id → number of its clients
 * <prefix>{<channel>}:pz       zset    presence: client id scored by expiry (ms, Redis clock)
 * <prefix>{<channel>}          Pub/Sub channel of the broker
 * <prefix>rl:<scope>:<key>     hash    shared rate-limit bucket of a user, IP or channel: c, b levels, t time
 * ```
 *
 * Every variable part ends in a fixed suffix, so two channels can never produce the same key. Rate-limit keys
 * have no `{` right after the prefix, so they never meet a channel's keys; each is used alone (any slot).
 *
 * A channel that cannot be a hash tag — the empty string, or a name containing `}` (never a hub channel, whose
 * grammar has no braces, but the engines accept any string) — is tagged `<prefix>{<sha256 of the name>}~`
 * instead: Redis would otherwise hash each of its keys whole, into different slots, and a Redis Cluster would
 * refuse its scripts with CROSSSLOT. The `~` after the brace keeps these apart from a channel literally named
 * like the digest.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors.js';

/** Key prefix used when none is given. */
export const DEFAULT_PREFIX = 'volley:';

/**
 * Checks a key prefix: any string without `{` or `}` (either would move the hash tag), at most 64 characters.
 *
 * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT`.
 */
export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix.length > 64 || /[{}]/.test(prefix)) {
    invalidArgument('prefix must be a string of at most 64 characters without { or }');
  }
  return prefix;
}

/** The key (and Pub/Sub) names of one prefix. */
export class KeySpace {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /**
   * `<prefix>{<channel>}`: the tag every key of the channel starts with, and the broker's Pub/Sub channel
   * (`<prefix>{<digest>}~` for a channel that cannot be a hash tag, see the module description).
   */
  tag(channel: string): string {
    if (channel === '' || channel.includes('}')) return `${this.prefix}{${digest(channel)}}~`;
    return `${this.prefix}{${channel}}`;
  }

  /** Stream meta hash and publications stream. */
  history(channel: string): { readonly meta: string; readonly stream: string } {
    const tag = this.tag(channel);
    return { meta: `${tag}:m`, stream: `${tag}:s` };
  }

  /** The hash remembering the first result of `idempotencyKey` in `channel`. */
  idempotency(channel: string, idempotencyKey: string): string {
    return `${this.tag(channel)}:i:${digest(idempotencyKey)}`;
  }

  /**
   * The key remembering `idempotencyKey` in `channel` without history. Not the hash of {@link idempotency}: a
   * namespace may gain or lose history between deploys, and the two must not meet as one key of two types.
   */
  idempotencyWithoutHistory(channel: string, idempotencyKey: string): string {
    return `${this.tag(channel)}:u:${digest(idempotencyKey)}`;
  }

  /** The shared token bucket of `key` in a rate-limit `scope`. */
  rateLimit(scope: string, key: string): string {
    return `${this.prefix}rl:${scope}:${key}`;
  }

  /** The four presence keys, in the order the presence scripts take them. */
  presence(channel: string): [info: string, users: string, userCounts: string, expiries: string] {
    const tag = this.tag(channel);
    return [`${tag}:ph`, `${tag}:pu`, `${tag}:pn`, `${tag}:pz`];
  }
}

/** A client-supplied key as a fixed-size key part that cannot reach outside its channel's key space. */
function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** Number of Redis Cluster hash slots. */
export const HASH_SLOTS = 16_384;

/** CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum of Redis Cluster key slots. */
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

/**
 * The Redis Cluster slot of a key or shard channel, as `CLUSTER KEYSLOT` computes it: CRC16 of the UTF-8 bytes,
 * modulo 16384, of the hash tag — the bytes between the first `{` and the first `}` after it, when there are
 * any — or else of the whole name.
 *
 * @example
 * ```ts
 * hashSlot('volley:{chat:1}:m') === hashSlot('volley:{chat:1}'); // true: one tag, one slot
 * ```
 */
export function hashSlot(key: string): number {
  let bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc % HASH_SLOTS;
}
