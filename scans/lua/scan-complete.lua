-- Writes a result only while the scan is pending: a result deleted by its owner (or already
-- written by an earlier attempt of the same job) is never resurrected by a late worker. The scan
-- leaves the pending index in the same step (or, when its callback is still owed, stays in it
-- rescored, for the pending reaper to find should the delivering process die) and enters its
-- tenant's result index (what rescans and the scan list walk) and the index of its outcome (what
-- the list's outcome filter walks); both are trimmed here to the result TTL window and to the
-- maximum size, a result trimmed from the first leaving the outcome indexes too. Scans marked
-- `unlisted` (a rescan's own scans) stay out of them, and out of the tenant's hourly counters
-- (scans/stats.ts), which a listed result bumps here, in the same call. The trace events the run
-- buffered go with the result. KEYS: scan, pending index, result index, trace, outcome indexes
-- (clean, findings, error), the stats hash of this hour. ARGV: result, pending member, scan id,
-- now (ms), oldest score kept, maximum size, TTL (s), pending score while the callback is owed
-- ('' if none), outcome (clean, findings or error), stats TTL (s), the stats fields to increment
-- (space-separated), trace events (JSON) from ARGV[12] on.
local scan = redis.call('HMGET', KEYS[1], 'state', 'unlisted')
if scan[1] ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[1])
if ARGV[8] == '' then
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('ZADD', KEYS[2], ARGV[8], ARGV[2])
end
if #ARGV > 11 then
  redis.call('RPUSH', KEYS[4], unpack(ARGV, 12))
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
if not scan[2] then
  local outcomeKeys = { clean = KEYS[5], findings = KEYS[6], error = KEYS[7] }
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
  redis.call('ZADD', outcomeKeys[ARGV[9]], ARGV[4], ARGV[3])
  local overflow = redis.call('ZRANGE', KEYS[3], 0, -tonumber(ARGV[6]) - 1)
  for i = 1, #overflow, 1000 do
    local batch = { unpack(overflow, i, math.min(i + 999, #overflow)) }
    for k = 5, 7 do redis.call('ZREM', KEYS[k], unpack(batch)) end
  end
  for _, key in ipairs({ KEYS[3], KEYS[5], KEYS[6], KEYS[7] }) do
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[5])
    redis.call('EXPIRE', key, ARGV[7])
  end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[6]) - 1)
  for field in string.gmatch(ARGV[11], '%S+') do redis.call('HINCRBY', KEYS[8], field, 1) end
  redis.call('EXPIRE', KEYS[8], ARGV[10])
end
return 1
