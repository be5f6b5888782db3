-- Counts one scan's outcome in its bucket's status, once per scan (listeners run at least once),
-- and only while the bucket is registered (a late outcome must not revive a deleted bucket's
-- counters). KEYS: bucket record, status hash, counted marker. ARGV: outcome, marker TTL (s).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1
