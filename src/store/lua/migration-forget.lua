-- Forgets one finished migration whose retention has passed: its keys, index entries and phase count.
-- KEYS[1] hash, KEYS[2] history, KEYS[3] inbox, KEYS[4] lease, KEYS[5] Slack notifier state,
--   KEYS[6] index, KEYS[7] finished index, KEYS[8] phase counts, KEYS[9] Slack notifier's done set
-- ARGV[1] id, ARGV[2] finished before (ms). Returns 1 when forgotten, 0 when it is not due (or already gone).
local finishedAt = redis.call('ZSCORE', KEYS[7], ARGV[1])
if not finishedAt or tonumber(finishedAt) >= tonumber(ARGV[2]) then return 0 end
local phase = redis.call('HGET', KEYS[1], 'phase')
if phase then redis.call('HINCRBY', KEYS[8], phase, -1) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('SREM', KEYS[9], ARGV[1])
return 1
