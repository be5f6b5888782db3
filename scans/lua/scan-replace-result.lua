-- Replaces a stored result with a rescan's, only if it is still the one the rescan compared
-- against (not deleted, not replaced meanwhile). KEYS: scan. ARGV: expected result, new result.
if redis.call('HGET', KEYS[1], 'state') ~= 'done' then return 0 end
if redis.call('HGET', KEYS[1], 'result') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'result', ARGV[2])
return 1
