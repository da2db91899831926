-- Creates a migration: its hash, first history entry and index entries, or nothing if the id exists.
-- KEYS[1] hash, KEYS[2] history, KEYS[3] index, KEYS[4] live index, KEYS[5] phase counts
-- ARGV[1] id, ARGV[2] fields (JSON array field, value, …), ARGV[3] first entry (JSON), ARGV[4] created at,
-- ARGV[5] phase, ARGV[6] history cap (0 = none). Returns 1 when created, 0 when the id exists.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[2])))
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('HINCRBY', KEYS[5], ARGV[5], 1)
if ARGV[6] ~= '0' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'seq', '0', 'e', ARGV[3])
else
  redis.call('XADD', KEYS[2], '*', 'seq', '0', 'e', ARGV[3])
end
return 1
