-- Writes a result only while the scan is pending: a result deleted by its owner (or already
-- written by an earlier attempt of the same job) is never resurrected by a late worker. The scan
-- leaves the pending index in the same step (or, when its callback is still owed, stays in it
-- rescored, for the pending reaper to find should the delivering process die) and enters its
-- tenant's result index (what rescans walk), which is trimmed here to the result TTL window and
-- to its maximum size; scans marked `unlisted` (a rescan's own scans) stay out of it. The trace
-- events the run buffered go with the result. KEYS: scan, pending index, result index, trace.
-- ARGV: result, pending member, scan id, now (ms), oldest score kept, maximum size, TTL (s),
-- pending score while the callback is owed ('' if none), trace events (JSON) from ARGV[9] on.
local scan = redis.call('HMGET', KEYS[1], 'state', 'unlisted')
if scan[1] ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[1])
if ARGV[8] == '' then
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('ZADD', KEYS[2], ARGV[8], ARGV[2])
end
if #ARGV > 8 then
  redis.call('RPUSH', KEYS[4], unpack(ARGV, 9))
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
if not scan[2] then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[6]) - 1)
  redis.call('EXPIRE', KEYS[3], ARGV[7])
end
return 1
