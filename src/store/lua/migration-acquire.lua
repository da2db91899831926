-- Takes a migration's lease for one drive job, only at the seq the job was enqueued for.
-- KEYS[1] migration hash, KEYS[2] lease key
-- ARGV[1] token, ARGV[2] ttl ms, ARGV[3] seq, ARGV[4] worker, ARGV[5] pid, ARGV[6] now
-- Returns {'gone'} | {'stale', seq} | {'locked', pttl, holder} | {'ok', prevWorker, prevPid, prevSince}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local seq = redis.call('HGET', KEYS[1], 'seq')
if seq ~= ARGV[3] then return {'stale', seq} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'locked', tostring(redis.call('PTTL', KEYS[2])), holder} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
local prev = redis.call('HMGET', KEYS[1], 'runningBy', 'runningPid', 'runningSince')
redis.call('HSET', KEYS[1], 'runningBy', ARGV[4], 'runningPid', ARGV[5], 'runningSince', ARGV[6])
return {'ok', prev[1] or '', prev[2] or '', prev[3] or ''}
