/**
 * The Lua scripts of the Redis engines. Each runs atomically on the server, so whatever several nodes do at once
 * to one channel happens in one order. Every script reads the clock with `TIME` (Redis's clock, the same for all
 * nodes) and touches only keys of one channel (one hash tag, so one cluster slot). The key layout is described in
 * keys.ts; docs/redis.md explains the behaviour.
 *
 * @module
 */

import { LuaScript } from './connection.js';

/** Helpers shared by the history scripts. */
const HISTORY_PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function int(n)
  return string.format('%d', n)
end

-- The stream's epoch and top offset; creates the stream in the candidate epoch when unknown (forgotten after
-- empty_ttl ms unless a publication arrives). A leftover publications key of a forgotten stream is dropped.
local function ensure(meta, stream, candidate, empty_ttl, now)
  local m = redis.call('HMGET', meta, 'e', 't')
  if m[1] then return m[1], tonumber(m[2]) end
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', candidate, 't', 0, 'x', 0, 'h', 0)
  redis.call('PEXPIREAT', meta, int(now + tonumber(empty_ttl)))
  return candidate, 0
end

-- Drops expired publications. Expiry never decreases along a stream, so they are a prefix: when the newest one
-- expired the whole stream goes; otherwise entries are read from the head only while the lower bound h of the
-- head's expiry says one may have expired.
local function trim_expired(meta, stream, now)
  local m = redis.call('HMGET', meta, 'x', 'h')
  local newest, head = tonumber(m[1]) or 0, tonumber(m[2]) or 0
  if newest <= now then
    redis.call('DEL', stream)
    return
  end
  if head > now then return end
  local start = '-'
  while true do
    local first = redis.call('XRANGE', stream, start, '+', 'COUNT', 1)
    if #first == 0 then
      redis.call('DEL', stream)
      return
    end
    local id, expiry = first[1][1], first[1][2][2]
    if tonumber(expiry) > now then
      if start ~= '-' then redis.call('XTRIM', stream, 'MINID', id) end
      redis.call('HSET', meta, 'h', expiry)
      return
    end
    start = '(' .. id
  end
end
`;

/**
 * Appends a publication.
 *
 * KEYS: meta, stream, [idempotency hash]. ARGV: candidate epoch, data JSON, info JSON ('' for none), time, size,
 * ttl ms, empty-stream ttl ms, dedupe window ms ('0': remember nothing), Pub/Sub channel ('' for none), publish
 * command (PUBLISH or SPUBLISH).
 *
 * Returns `{epoch, offset, 0}` or, for a key seen in this epoch, `{epoch, offset, 1, time, data, info}` of the
 * first append.
 */
export const APPEND = new LuaScript(
  'append',
  `${HISTORY_PRELUDE}
local meta, stream, idem = KEYS[1], KEYS[2], KEYS[3]
local data, info, time = ARGV[2], ARGV[3], ARGV[4]
local now = now_ms()
local epoch = ensure(meta, stream, ARGV[1], ARGV[7], now)
if idem then
  local seen = redis.call('HMGET', idem, 'e', 'o', 't', 'd', 'i')
  if seen[1] == epoch then
    return {epoch, tonumber(seen[2]), 1, seen[3], seen[4], seen[5] or ''}
  end
end
trim_expired(meta, stream, now)
local offset = redis.call('HINCRBY', meta, 't', 1)
local expiry = math.max(now + tonumber(ARGV[6]), tonumber(redis.call('HGET', meta, 'x')) or 0)
local id = int(offset) .. '-0'
if info == '' then
  redis.call('XADD', stream, 'MAXLEN', '=', ARGV[5], id, 'x', int(expiry), 't', time, 'd', data)
else
  redis.call('XADD', stream, 'MAXLEN', '=', ARGV[5], id, 'x', int(expiry), 't', time, 'd', data, 'i', info)
end
redis.call('HSET', meta, 'x', int(expiry))
redis.call('PEXPIREAT', stream, int(expiry))
redis.call('PEXPIREAT', meta, int(expiry + tonumber(ARGV[7])))
if idem and ARGV[8] ~= '0' then
  redis.call('DEL', idem)
  if info == '' then
    redis.call('HSET', idem, 'e', epoch, 'o', int(offset), 't', time, 'd', data)
  else
    redis.call('HSET', idem, 'e', epoch, 'o', int(offset), 't', time, 'd', data, 'i', info)
  end
  redis.call('PEXPIRE', idem, ARGV[8])
end
if ARGV[9] ~= '' then
  local with_info = ''
  if info ~= '' then with_info = ',"info":' .. info end
  redis.call(ARGV[10], ARGV[9], '{"t":"p","e":' .. cjson.encode(epoch) .. ',"p":{"offset":' .. int(offset) ..
    ',"data":' .. data .. with_info .. ',"time":' .. time .. '}}')
end
return {epoch, offset, 0}
`,
);

/**
 * Reads publications. KEYS: meta, stream. ARGV: candidate epoch, empty-stream ttl ms, first id (`<since+1>-0`),
 * limit ('' for all), '1' for newest first.
 *
 * Returns `{epoch, top, oldest, entries}` where entries are `XRANGE` replies. The kept publications are the
 * stream's entries, consecutive offsets ending at top, so `oldest = top - XLEN + 1`.
 */
export const READ = new LuaScript(
  'read',
  `${HISTORY_PRELUDE}
local meta, stream = KEYS[1], KEYS[2]
local now = now_ms()
local epoch, top = ensure(meta, stream, ARGV[1], ARGV[2], now)
trim_expired(meta, stream, now)
local oldest = top - redis.call('XLEN', stream) + 1
local entries
if ARGV[5] == '1' then
  if ARGV[4] == '' then
    entries = redis.call('XREVRANGE', stream, '+', ARGV[3])
  else
    entries = redis.call('XREVRANGE', stream, '+', ARGV[3], 'COUNT', ARGV[4])
  end
elseif ARGV[4] == '' then
  entries = redis.call('XRANGE', stream, ARGV[3], '+')
else
  entries = redis.call('XRANGE', stream, ARGV[3], '+', 'COUNT', ARGV[4])
end
return {epoch, top, oldest, entries}
`,
);

/** The stream's position. KEYS: meta, stream. ARGV: candidate epoch, empty-stream ttl ms. Returns `{epoch, top}`. */
export const POSITION = new LuaScript(
  'position',
  `${HISTORY_PRELUDE}
local epoch, top = ensure(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now_ms())
return {epoch, top}
`,
);

/** Helpers shared by the presence scripts. KEYS: info hash, client→user hash, user→count hash, expiry zset. */
const PRESENCE_PRELUDE = `
local info_key, user_key, count_key, expiry_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function forget(client)
  local user = redis.call('HGET', user_key, client)
  redis.call('HDEL', info_key, client)
  redis.call('HDEL', user_key, client)
  if user and redis.call('HINCRBY', count_key, user, -1) <= 0 then
    redis.call('HDEL', count_key, user)
  end
end

-- Removes every member whose expiry is now or earlier.
local function purge(now)
  local expired = redis.call('ZRANGEBYSCORE', expiry_key, '-inf', now)
  for i = 1, #expired do forget(expired[i]) end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', expiry_key, '-inf', now) end
end
`;

/**
 * Adds or refreshes a member. ARGV: client id, user id, info JSON, ttl ms. All four keys expire with the
 * latest member, so a channel whose node died disappears entirely.
 */
export const PRESENCE_ADD = new LuaScript(
  'presence-add',
  `${PRESENCE_PRELUDE}
local client, user = ARGV[1], ARGV[2]
local now = now_ms()
purge(now)
local previous = redis.call('HGET', user_key, client)
if previous ~= user then
  if previous and redis.call('HINCRBY', count_key, previous, -1) <= 0 then
    redis.call('HDEL', count_key, previous)
  end
  redis.call('HINCRBY', count_key, user, 1)
  redis.call('HSET', user_key, client, user)
end
redis.call('HSET', info_key, client, ARGV[3])
redis.call('ZADD', expiry_key, now + tonumber(ARGV[4]), client)
local last = redis.call('ZRANGE', expiry_key, -1, -1, 'WITHSCORES')
local at = string.format('%d', tonumber(last[2]))
for i = 1, 4 do redis.call('PEXPIREAT', KEYS[i], at) end
return 1
`,
);

/** Removes a member. ARGV: client id. */
export const PRESENCE_REMOVE = new LuaScript(
  'presence-remove',
  `${PRESENCE_PRELUDE}
forget(ARGV[1])
redis.call('ZREM', expiry_key, ARGV[1])
return 1
`,
);

/** Live members: `HGETALL` of the info hash after purging expired ones. */
export const PRESENCE_MEMBERS = new LuaScript(
  'presence-members',
  `${PRESENCE_PRELUDE}
purge(now_ms())
return redis.call('HGETALL', info_key)
`,
);

/** Live counts `{clients, users}` after purging expired members. */
export const PRESENCE_STATS = new LuaScript(
  'presence-stats',
  `${PRESENCE_PRELUDE}
purge(now_ms())
return {redis.call('HLEN', info_key), redis.call('HLEN', count_key)}
`,
);

/**
 * Publishes once per idempotency key, in a channel without history. KEYS: the key's string. ARGV: window ms,
 * publish command (PUBLISH or SPUBLISH), Pub/Sub channel, message.
 *
 * `SET NX` and the publish are one atomic step: of any number of calls with one key within the window, exactly one
 * publishes. Returns 1 when it published, 0 for a duplicate.
 */
export const PUBLISH_ONCE = new LuaScript(
  'publish-once',
  `
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call(ARGV[2], ARGV[3], ARGV[4])
  return 1
end
return 0
`,
);

/**
 * Debits a shared token bucket (rate limits across nodes). KEYS: the bucket hash, fields `c` and `b` the levels
 * of the commands and bytes dimensions in thousandths of a token, `t` when they were computed (ms, Redis clock).
 * ARGV: for commands, then bytes: rate per second ('' when the dimension is not limited), burst, tokens spent.
 *
 * Each level is refilled for the time elapsed (capped at the burst; a bucket never seen is full), then debited
 * even below zero: the nodes already admitted what they debit, and the debt keeps the key refused until it is
 * repaid. The key expires when every level would be full again, which is the same as absent. Returns the levels
 * after the debit as strings ('' for a dimension not limited), exact to the double.
 */
export const RATE_LIMIT_DEBIT = new LuaScript(
  'rate-limit-debit',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = redis.call('HMGET', KEYS[1], 't', 'c', 'b')
local elapsed = math.max(0, now - (tonumber(m[1]) or now))
local fields, levels, ttl = {'c', 'b'}, {}, 1
local writes = {'t', string.format('%d', now)}
for i = 1, 2 do
  local rate = tonumber(ARGV[i * 3 - 2])
  if rate then
    local full = tonumber(ARGV[i * 3 - 1]) * 1000
    local level = math.min(full, (tonumber(m[i + 1]) or full) + elapsed * rate) - tonumber(ARGV[i * 3]) * 1000
    levels[i] = string.format('%.17g', level)
    table.insert(writes, fields[i])
    table.insert(writes, levels[i])
    ttl = math.max(ttl, math.ceil((full - level) / rate))
  else
    levels[i] = ''
  end
end
redis.call('HSET', KEYS[1], unpack(writes))
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
return levels
`,
);
