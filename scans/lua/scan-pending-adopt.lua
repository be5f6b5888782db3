-- Adds a scan of the global pending index older versions wrote to its tenant's index, with the
-- score it had there, while its record still exists (an expired scan has nothing left to reap)
-- and unless the tenant's index already holds it (a newer score wins). KEYS: scan, the tenant's
-- pending index. ARGV: scan id, score. Returns 1 when it was added.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
