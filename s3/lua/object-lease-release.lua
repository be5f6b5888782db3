-- Frees the lease if this scan still holds it, and hands back the jobs waiting for the outcome.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local watchers = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
return watchers
