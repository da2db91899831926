-- Checks that a worker may still write for a migration: it holds the lease and the seq has not moved.
-- KEYS[1] migration hash, KEYS[2] lease key; ARGV[1] token, ARGV[2] seq. Returns 'ok', 'lock' or 'seq'.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'lock' end
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[2] then return 'seq' end
return 'ok'
