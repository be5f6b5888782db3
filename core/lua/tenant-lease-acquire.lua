-- KEYS: inflight, parked, [a set the granted holder leaves]. ARGV: holder, leaseMs, limit,
-- mayBeParked ('0': the holder was never turned away, so it is not in line and the parked set is
-- left alone). The holder's own lease is looked up only when the tenant is at its bound: a holder
-- picked up again keeps its slot.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) or redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if ARGV[4] ~= '0' then redis.call('ZREM', KEYS[2], ARGV[1]) end
  if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[1]) end
  return 1
end
return 0
