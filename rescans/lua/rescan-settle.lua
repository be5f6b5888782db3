-- An item's outcome is counted once, however often a resumed runner looks at it.
-- KEYS: rescan, in-flight hash, settled hash. ARGV: result id, outcome, TTL s, fields to increment…
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[3], ARGV[3])
for i = 4, #ARGV do redis.call('HINCRBY', KEYS[1], ARGV[i], 1) end
return 1
