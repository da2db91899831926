-- Commits one drive job: record fields, seq+1, history (with runs of identical passing verdicts compacted),
-- consumed commands, and on finishing the indexes and the retention TTLs. Nothing is written unless the caller
-- still holds the lease at the seq it read.
-- KEYS[1] hash, KEYS[2] lease, KEYS[3] history, KEYS[4] inbox, KEYS[5] slots, KEYS[6] namespace slots,
--   KEYS[7] live index, KEYS[8] finished index, KEYS[9] phase counts
-- ARGV[1] token, ARGV[2] seq, ARGV[3] fields (JSON object; null deletes), ARGV[4] commands consumed,
--   ARGV[5] release the slot ('1'), ARGV[6] finished ('1'), ARGV[7] entries (JSON array of [entry, runKey, at]),
--   ARGV[8] history cap (0 = none), ARGV[9] now, ARGV[10] keep finished keys for (ms)
-- Returns {'lock'} | {'seq'} | {'ok', newSeq, commandsWaiting}
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'lock'} end
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[2] then return {'seq'} end
local id = redis.call('HGET', KEYS[1], 'id')
local oldPhase = redis.call('HGET', KEYS[1], 'phase')

local fields = cjson.decode(ARGV[3])
local flat = {}
for k, v in pairs(fields) do
  if v == cjson.null then redis.call('HDEL', KEYS[1], k) else table.insert(flat, k); table.insert(flat, v) end
end
local newSeq = tonumber(ARGV[2]) + 1
table.insert(flat, 'seq'); table.insert(flat, tostring(newSeq))
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('HDEL', KEYS[1], 'runningBy', 'runningPid', 'runningSince')
local newPhase = fields['phase']
if type(newPhase) == 'string' and oldPhase and newPhase ~= oldPhase then
  redis.call('HINCRBY', KEYS[9], oldPhase, -1)
  redis.call('HINCRBY', KEYS[9], newPhase, 1)
end

local n = tonumber(ARGV[4])
if n > 0 then redis.call('LTRIM', KEYS[4], n, -1) end
if ARGV[5] == '1' then
  redis.call('SREM', KEYS[5], id)
  redis.call('SREM', KEYS[6], id)
end

-- History. A run is a sequence of entries with the same non-empty run key (identical passing verdicts): its
-- first entry stays in full, the latest one is kept as the run's tail with n (the run's length) and since
-- (the first one's time); the tail it replaces is deleted.
local function add(...)
  if ARGV[8] ~= '0' then return redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', ...) end
  return redis.call('XADD', KEYS[3], '*', ...)
end
local run = redis.call('HMGET', KEYS[1], 'runKey', 'runN', 'runSince', 'runTail')
local runKey, runN, runSince, runTail = run[1] or '', tonumber(run[2] or '0') or 0, run[3] or '', run[4] or ''
local entries = cjson.decode(ARGV[7])
for _, item in ipairs(entries) do
  local e, key, at = item[1], item[2], item[3]
  if key ~= '' and key == runKey then
    runN = runN + 1
    if runTail ~= '' then redis.call('XDEL', KEYS[3], runTail) end
    runTail = add('seq', ARGV[2], 'e', e, 'n', tostring(runN), 'since', runSince)
  else
    add('seq', ARGV[2], 'e', e)
    runKey = key; runN = 1; runSince = at; runTail = ''
  end
end
if #entries > 0 then
  redis.call('HSET', KEYS[1], 'runKey', runKey, 'runN', tostring(runN), 'runSince', runSince, 'runTail', runTail)
end

if ARGV[6] == '1' then
  redis.call('ZREM', KEYS[7], id)
  redis.call('ZADD', KEYS[8], ARGV[9], id)
  redis.call('PEXPIRE', KEYS[1], ARGV[10])
  redis.call('PEXPIRE', KEYS[3], ARGV[10])
  redis.call('PEXPIRE', KEYS[4], ARGV[10])
end
return {'ok', tostring(newSeq), tostring(redis.call('LLEN', KEYS[4]))}
