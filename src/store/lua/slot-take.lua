-- Takes a concurrency slot for a migration unless the namespace's or the cluster's limit is reached (0 = none).
-- KEYS[1] all slots, KEYS[2] the namespace's slots; ARGV[1] id, ARGV[2] namespace limit, ARGV[3] cluster limit
-- Returns {'ok'} | {'namespace', running} | {'cluster', running}
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return {'ok'} end
local nsLimit = tonumber(ARGV[2]); local allLimit = tonumber(ARGV[3])
if nsLimit > 0 and redis.call('SCARD', KEYS[2]) >= nsLimit then return {'namespace', tostring(redis.call('SCARD', KEYS[2]))} end
if allLimit > 0 and redis.call('SCARD', KEYS[1]) >= allLimit then return {'cluster', tostring(redis.call('SCARD', KEYS[1]))} end
redis.call('SADD', KEYS[1], ARGV[1]); redis.call('SADD', KEYS[2], ARGV[1])
return {'ok'}
