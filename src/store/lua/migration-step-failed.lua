-- A drive step failed before its commit: hand the lease back and clear the "running" marks it set, so the next
-- try (by this worker or another) is not reported as a takeover of a worker that stopped mid-step.
-- KEYS[1] migration hash, KEYS[2] lease key; ARGV[1] token. Returns 1 when the lease was still ours.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'runningBy', 'runningPid', 'runningSince')
redis.call('DEL', KEYS[2])
return 1
