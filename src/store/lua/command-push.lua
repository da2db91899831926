-- Pushes an operator command to a migration's inbox unless its deadline has passed on Redis' own clock, and
-- stamps it with `storedAt`. With an Idempotency-Key (KEYS[2], same slot as the inbox) the first push records
-- its answer; a retry with the same fingerprint gets that answer back, another request under the key is refused.
-- KEYS[1] inbox[, KEYS[2] idempotency]; ARGV[1] command JSON, ARGV[2] deadline epoch ms
-- [, ARGV[3] fingerprint digest, ARGV[4] answer, ARGV[5] answer TTL ms]
-- Returns {'queued', length, now} | {'expired', now} | {'duplicate', answer} | {'conflict', ''}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if KEYS[2] then
  local prev = redis.call('GET', KEYS[2])
  if prev then
    local sep = string.find(prev, '\n', 1, true)
    if string.sub(prev, 1, sep - 1) ~= ARGV[3] then return {'conflict', ''} end
    return {'duplicate', string.sub(prev, sep + 1)}
  end
end
if now > tonumber(ARGV[2]) then return {'expired', tostring(now)} end
local cmd = string.sub(ARGV[1], 1, -2) .. ',"storedAt":' .. string.format('%d', now) .. '}'
local n = redis.call('RPUSH', KEYS[1], cmd)
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[3] .. '\n' .. ARGV[4], 'PX', ARGV[5]) end
return {'queued', tostring(n), tostring(now)}
