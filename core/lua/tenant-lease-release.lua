-- KEYS: inflight, parked. ARGV: holder, leaseMs, limit. Frees the holder's slot and hands it over.
redis.call('ZREM', KEYS[1], ARGV[1])
