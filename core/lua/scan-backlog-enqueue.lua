-- KEYS: waiting, rank. ARGV: scanId, staleMs. Returns the job's rank in the tenant's backlog: 1
-- when it is alone in it (the count starts over), else the next rank.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], 'NX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 1 then
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[2])
  return 1
end
local rank = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return rank
