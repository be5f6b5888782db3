-- KEYS: inflight, parked. ARGV: holder, leaseMs, limit, parkedTtlMs. Parks the holder (keeping its
-- first place in line), unless a slot was handed to it meanwhile: then it is the one to wake.
-- Should a slot have freed with nobody to hand it to, it goes to the oldest parked job at once.
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return ARGV[1] end
redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
