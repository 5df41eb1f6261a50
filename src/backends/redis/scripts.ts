// Lua scripts of the redis backend. Each runs atomically inside Redis, so a commit's checks and
// ops, and a chunk write and the byte counter it moves, can never be seen half done.
//
// Key layout (prefix P = "zufs:{<volume>}:"; see redis-backend.ts):
//   P v            hash   format, version, chunkSize, next (id counter), inodes, bytes
//   P i:<ino>      hash   inode fields
//   P d:<parent>   hash   name -> "<ino>:<cookie>"
//   P c:<parent>   zset   name scored by cookie (readdir order)
//   P x:<ino>      hash   xattr name -> value (binary)
//   P k:<ino>:<idx> string chunk bytes (SETRANGE/GETRANGE)
//   P K:<ino>      zset   chunk indices present, scored by index
//   P L:<ino>      string JSON array of the inode's fcntl/flock LockRecords
//   P g:<gateway>  string a gateway's lease (PX): its lock records count only while it exists
// Pub/sub channels (no key, no server configuration): P changes (what a commit changed, for other
// gateways' caches), P locks (a lock table changed, to wake waiters).
// Scripts name every key they touch in KEYS except the chunk strings `remove` deletes by index;
// those share the volume's hash tag, so in Redis Cluster they live in the same slot.
import { createHash } from 'node:crypto';

export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * KEYS[1] = volume hash, KEYS[2..] = keys the ARGV refer to by index.
 * ARGV: nchecks, (dkeyIdx, name, expectedIno or '')*, nops, op*
 *   I kIdx nfields (field value)*      put inode (replaces the whole hash)
 *   i kIdx xIdx                        delete inode and its xattrs
 *   D dIdx cIdx name ino cookie        put dentry
 *   d dIdx cIdx name                   delete dentry
 *   X xIdx name value                  set xattr
 *   x xIdx name                        delete xattr
 * then optionally: channel, message   PUBLISHed once the ops are applied (the change feed)
 * Returns 1 when applied, 0 when a check failed (nothing changed).
 */
export const COMMIT = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('ZUFS_NOVOLUME') end
local a = 1
local nc = tonumber(ARGV[a]); a = a + 1
for _ = 1, nc do
  local cur = redis.call('HGET', KEYS[tonumber(ARGV[a])], ARGV[a + 1])
  local want = ARGV[a + 2]
  a = a + 3
  if want == '' then
    if cur then return 0 end
  else
    if not cur then return 0 end
    if string.match(cur, '^(%d+):') ~= want then return 0 end
  end
end
local dInodes = 0
local nops = tonumber(ARGV[a]); a = a + 1
for _ = 1, nops do
  local op = ARGV[a]
  if op == 'I' then
    local k = KEYS[tonumber(ARGV[a + 1])]
    local n = tonumber(ARGV[a + 2])
    if redis.call('DEL', k) == 0 then dInodes = dInodes + 1 end
    redis.call('HSET', k, unpack(ARGV, a + 3, a + 2 + 2 * n))
    a = a + 3 + 2 * n
  elseif op == 'i' then
    if redis.call('DEL', KEYS[tonumber(ARGV[a + 1])]) == 1 then dInodes = dInodes - 1 end
    redis.call('DEL', KEYS[tonumber(ARGV[a + 2])])
    a = a + 3
  elseif op == 'D' then
    local name = ARGV[a + 3]
    redis.call('HSET', KEYS[tonumber(ARGV[a + 1])], name, ARGV[a + 4] .. ':' .. ARGV[a + 5])
    redis.call('ZADD', KEYS[tonumber(ARGV[a + 2])], ARGV[a + 5], name)
    a = a + 6
  elseif op == 'd' then
    local name = ARGV[a + 3]
    redis.call('HDEL', KEYS[tonumber(ARGV[a + 1])], name)
    redis.call('ZREM', KEYS[tonumber(ARGV[a + 2])], name)
    a = a + 4
  elseif op == 'X' then
    redis.call('HSET', KEYS[tonumber(ARGV[a + 1])], ARGV[a + 2], ARGV[a + 3])
    a = a + 4
  elseif op == 'x' then
    redis.call('HDEL', KEYS[tonumber(ARGV[a + 1])], ARGV[a + 2])
    a = a + 3
  else
    return redis.error_reply('zufs commit: unknown op ' .. tostring(op))
  end
end
if dInodes ~= 0 then redis.call('HINCRBY', KEYS[1], 'inodes', dInodes) end
if ARGV[a] then redis.call('PUBLISH', ARGV[a], ARGV[a + 1]) end
return 1
`);

/** KEYS: lock table string. ARGV: expected value ('' = absent), new value ('' = delete), channel,
 * message. Compare-and-set of one inode's lock table; publishes the change. Returns 1 or 0. */
export const LOCK_PUT = script(`
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`);

/** KEYS: zset c:<parent>, hash d:<parent>. ARGV: afterCookie, limit. Returns name, "ino:cookie", ... */
export const READDIR = script(`
local names = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
if #names == 0 then return {} end
local vals = redis.call('HMGET', KEYS[2], unpack(names))
local out = {}
for i = 1, #names do
  out[#out + 1] = names[i]
  out[#out + 1] = vals[i] or ''
end
return out
`);

/** KEYS: volume hash. ARGV: count. Returns the last id of the reserved range. Like COMMIT, fails
 * with ZUFS_NOVOLUME when the volume hash is gone (FLUSHDB, a restart without persistence):
 * carrying on would hand out ids again and write into a volume without its root. */
export const ALLOC_IDS = script(`
if redis.call('HEXISTS', KEYS[1], 'next') == 0 then return redis.error_reply('ZUFS_NOVOLUME') end
return redis.call('HINCRBY', KEYS[1], 'next', tonumber(ARGV[1]))
`);

/** KEYS: volume hash, chunk string, chunk index zset. ARGV: idx, off, data. Returns the new length. */
export const CHUNK_WRITE = script(`
local old = redis.call('STRLEN', KEYS[2])
local new = redis.call('SETRANGE', KEYS[2], ARGV[2], ARGV[3])
if old == 0 then redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1]) end
if new > old then redis.call('HINCRBY', KEYS[1], 'bytes', new - old) end
return new
`);

/** KEYS: volume hash, chunk string, chunk index zset. ARGV: idx, len. */
export const CHUNK_TRUNCATE = script(`
local old = redis.call('STRLEN', KEYS[2])
local len = tonumber(ARGV[2])
if len >= old then return 0 end
if len == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('SET', KEYS[2], redis.call('GETRANGE', KEYS[2], 0, len - 1))
end
redis.call('HINCRBY', KEYS[1], 'bytes', len - old)
return 1
`);

/** KEYS: volume hash, chunk index zset. ARGV: chunk key prefix, min score, max score, batch.
 * Removes up to `batch` chunks in range; returns how many (call again until 0). */
export const CHUNK_REMOVE = script(`
local idxs = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local freed = 0
for i = 1, #idxs do
  local k = ARGV[1] .. idxs[i]
  freed = freed + redis.call('STRLEN', k)
  redis.call('DEL', k)
  redis.call('ZREM', KEYS[2], idxs[i])
end
if freed > 0 then redis.call('HINCRBY', KEYS[1], 'bytes', -freed) end
return #idxs
`);
