-- Counts downloaded bytes on the tenant's quota key for the day (KEYS[1]), in the layout
-- rate-limiter-flexible reads and checks (an integer with a TTL). ARGV: bytes, TTL (s). The TTL
-- is set when the key is created, as the library does; one command less than its own script.
local used = redis.call('INCRBY', KEYS[1], ARGV[1])
if used == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return used
