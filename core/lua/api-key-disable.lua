-- Disables an API key. Only touches keys that exist: HSET on a missing key would create a
-- half-formed record. KEYS: key record.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'active', '0') return 1 end
return 0
