-- Shared tail of park and release (after redis-now.lua).
-- Gives a free slot (if there is one) to the oldest parked job; returns that job's id to wake.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  local woken = redis.call('ZPOPMIN', KEYS[2])
  if woken[1] then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), woken[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return woken[1]
  end
end
return false
