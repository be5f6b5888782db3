-- KEYS: inflight, parked. ARGV: holder, leaseMs, limit. Frees the holder's slot and, when jobs are
-- in line, hands it over (redis-now.lua and tenant-lease-hand-over.lua follow). With nobody
-- parked, the usual case, that is all: no clock read, no sweep (the next acquire sweeps).
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
