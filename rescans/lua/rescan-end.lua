-- Ends a rescan still running, and frees the tenant for the next one if it held the marker.
-- KEYS: rescan, active marker. ARGV: state, finished at, error ('' for none), id.
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'listing' and state ~= 'scanning' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'finished_at', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
return 1
