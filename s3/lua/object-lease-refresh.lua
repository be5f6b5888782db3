-- Pushes the lease further out if this scan still holds it. KEYS: lease. ARGV: scan id, TTL ms.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
