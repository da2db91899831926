-- Claims a VirtualService route for the migration that is about to start: two migrations never shift the same
-- route at once. A claim held by a migration that finished (or was forgotten) is free.
-- KEYS[1] route claim; ARGV[1] id, ARGV[2] migration hash key prefix ("{p}:m:"), ARGV[3] 1 = claim, 0 = only ask
-- Returns {'ok'} | {'held', holder}
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local phase = redis.call('HGET', ARGV[2] .. holder, 'phase')
  if phase and phase ~= 'completed' and phase ~= 'rolledBack' and phase ~= 'aborted' and phase ~= 'failed' then
    return {'held', holder}
  end
end
if ARGV[3] == '1' then redis.call('SET', KEYS[1], ARGV[1]) end
return {'ok'}
