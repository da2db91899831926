-- HSET on a hash only while the lease is ours: a holder that lost its lease cannot write.
-- KEYS[1] lease key, KEYS[2] hash; ARGV[1] token, then field, value, … Returns 1 when written, 0 when fenced out.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if #ARGV > 1 then redis.call('HSET', KEYS[2], unpack(ARGV, 2)) end
return 1
