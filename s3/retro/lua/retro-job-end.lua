-- ARGV: target state ('cancelled' | 'failed'), now, ttl, error message.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if state ~= 'crawling' and state ~= 'scanning' then return state end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[4]) end
finish(ARGV[1], ARGV[2], ARGV[3])
return ARGV[1]
