-- Extends a lease while it is still ours.
-- KEYS[1] lease key; ARGV[1] token, ARGV[2] ttl ms. Returns 1 when extended, 0 when the lease is gone or not ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
