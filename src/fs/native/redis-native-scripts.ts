// Lua scripts of the Redis native layout. Each runs atomically inside Redis, so a reader with
// redis-cli sees a key either before or after a truncate or a whole-file replace, never between.
import type { RedisClient } from '../../backends/redis/redis-client.js';

export interface NativeScript {
  name: string;
  keys: number;
  lua: string;
}

/** KEYS[1] → {type, size}: the size the file shows (STRLEN, or the length of the formatted text). */
export const KEY_INFO: NativeScript = {
  name: 'zufsNativeKeyInfo',
  keys: 1,
  lua: `
local k = KEYS[1]
local t = redis.call('TYPE', k).ok
local n = 0
if t == 'string' then
  n = redis.call('STRLEN', k)
elseif t == 'list' then
  for _, e in ipairs(redis.call('LRANGE', k, 0, -1)) do n = n + #e + 1 end
elseif t == 'set' then
  for _, e in ipairs(redis.call('SMEMBERS', k)) do n = n + #e + 1 end
elseif t == 'zset' then
  local r = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  for i = 1, #r, 2 do n = n + #r[i] + #r[i + 1] + 2 end
elseif t == 'hash' then
  n = redis.call('HLEN', k)
end
return {t, n}`,
};

/** KEYS[1] string, ARGV[1] new length: cut or zero-extend, keeping the TTL. */
export const STRING_TRUNCATE: NativeScript = {
  name: 'zufsNativeStrTruncate',
  keys: 1,
  lua: `
local k = KEYS[1]
local n = tonumber(ARGV[1])
local t = redis.call('TYPE', k).ok
if t == 'none' then return redis.error_reply('ZUFS_ENOENT') end
if t ~= 'string' then return redis.error_reply('WRONGTYPE the key is a ' .. t) end
local v = ''
if n > 0 then v = redis.call('GETRANGE', k, 0, n - 1) end
if #v < n then v = v .. string.rep('\\0', n - #v) end
redis.call('SET', k, v, 'KEEPTTL')
return n`,
};

/** KEYS[1] hash, ARGV[1] field, ARGV[2] new length. */
export const FIELD_TRUNCATE: NativeScript = {
  name: 'zufsNativeFieldTruncate',
  keys: 1,
  lua: `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return redis.error_reply('ZUFS_ENOENT') end
local n = tonumber(ARGV[2])
v = string.sub(v, 1, n)
if #v < n then v = v .. string.rep('\\0', n - #v) end
redis.call('HSET', KEYS[1], ARGV[1], v)
return n`,
};

/** KEYS[1] hash, ARGV[1] from, ARGV[2] to, ARGV[3] '1' = no replace. */
export const FIELD_RENAME: NativeScript = {
  name: 'zufsNativeFieldRename',
  keys: 1,
  lua: `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return redis.error_reply('ZUFS_ENOENT') end
if ARGV[3] == '1' and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return redis.error_reply('ZUFS_EEXIST') end
redis.call('HSET', KEYS[1], ARGV[2], v)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1`,
};

/**
 * KEYS[1], ARGV[1] type (list, set, zset), ARGV[2..] the elements (zset: score, member pairs).
 * Replaces the whole key; the TTL it had stays. No elements deletes the key (Redis has no empty
 * collections). A key that meanwhile became another type is left alone (WRONGTYPE).
 */
export const COLLECTION_REPLACE: NativeScript = {
  name: 'zufsNativeReplace',
  keys: 1,
  lua: `
local k = KEYS[1]
local want = ARGV[1]
local t = redis.call('TYPE', k).ok
if t ~= 'none' and t ~= want then return redis.error_reply('WRONGTYPE the key is now a ' .. t) end
local ttl = redis.call('PTTL', k)
redis.call('DEL', k)
local cmd = 'RPUSH'
local step = 1000 -- even, so a ZADD batch never splits a score from its member
if want == 'set' then cmd = 'SADD' elseif want == 'zset' then cmd = 'ZADD' end
local i = 2
while i <= #ARGV do
  local j = math.min(i + step - 1, #ARGV)
  redis.call(cmd, k, unpack(ARGV, i, j))
  i = j + 1
end
if ttl > 0 and #ARGV > 1 then redis.call('PEXPIRE', k, ttl) end
return #ARGV - 1`,
};

/** KEYS[1] hash, ARGV[1], ARGV[2] two fields: swap their values. */
export const FIELD_EXCHANGE: NativeScript = {
  name: 'zufsNativeFieldExchange',
  keys: 1,
  lua: `
local a = redis.call('HGET', KEYS[1], ARGV[1])
local b = redis.call('HGET', KEYS[1], ARGV[2])
if not a or not b then return redis.error_reply('ZUFS_ENOENT') end
redis.call('HSET', KEYS[1], ARGV[1], b, ARGV[2], a)
return 1`,
};

/** KEYS[1], KEYS[2]: swap two keys (values, types and TTLs) through the temporary name KEYS[3] no
 * client can observe (the script runs without interleaving). In a cluster all three share a slot. */
export const KEY_EXCHANGE: NativeScript = {
  name: 'zufsNativeKeyExchange',
  keys: 3,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('ZUFS_ENOENT') end
local tmp = KEYS[3]
if redis.call('EXISTS', tmp) == 1 then return redis.error_reply('ZUFS_EEXIST') end
redis.call('RENAME', KEYS[1], tmp)
redis.call('RENAME', KEYS[2], KEYS[1])
redis.call('RENAME', tmp, KEYS[2])
return 1`,
};

const ALL = [KEY_INFO, STRING_TRUNCATE, FIELD_TRUNCATE, FIELD_RENAME, FIELD_EXCHANGE, KEY_EXCHANGE, COLLECTION_REPLACE];

/** Registers the scripts as ioredis commands (EVALSHA with an EVAL fallback after NOSCRIPT). */
export function defineScripts(redis: RedisClient): void {
  for (const s of ALL) redis.defineCommand(s.name, { numberOfKeys: s.keys, lua: s.lua });
}

/** Runs a script registered by defineScripts. */
export function runScript<T>(redis: RedisClient, s: NativeScript, keys: string[], args: (string | Buffer | number)[]): Promise<T> {
  const fn = (redis as unknown as Record<string, (...a: unknown[]) => Promise<T>>)[s.name];
  if (!fn) throw new Error(`script ${s.name} is not defined on this connection`);
  return fn.call(redis, ...keys, ...args);
}
