-- Creates a migration: its hash, first history entry and index entries — only if the id is new and the request
-- is still wanted: a create that reaches Redis after its deadline (Redis' own clock) stores nothing, so a
-- submission answered 503 is never stored later.
-- KEYS[1] hash, KEYS[2] history, KEYS[3] index, KEYS[4] live index, KEYS[5] phase counts
-- ARGV[1] id, ARGV[2] fields (JSON array field, value, …), ARGV[3] first entry (JSON), ARGV[4] created at,
-- ARGV[5] phase, ARGV[6] history cap (0 = none), ARGV[7] deadline epoch ms (0 = none).
-- Returns {'created', now} | {'exists', now} | {'expired', now}.
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
if ARGV[7] ~= '0' and tonumber(now) > tonumber(ARGV[7]) then return {'expired', now} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists', now} end
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[2])))
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('HINCRBY', KEYS[5], ARGV[5], 1)
if ARGV[6] ~= '0' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'seq', '0', 'e', ARGV[3])
else
  redis.call('XADD', KEYS[2], '*', 'seq', '0', 'e', ARGV[3])
end
return {'created', now}
