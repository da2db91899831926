-- Releases a lease only if it is still ours (an expired lease may belong to someone else by now).
-- KEYS[1] lease key; ARGV[1] token. Returns 1 when released.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
