-- ARGV: object digest, counter field, now, ttl.
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'completed' then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'scanned', 1)
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('HSET', KEYS[1], 'progress_at', ARGV[3])
complete_if_done(ARGV[3], ARGV[4])
return 1
