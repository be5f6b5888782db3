-- Only a rescan still listing moves on to scanning (a cancelled one stays cancelled).
-- KEYS: rescan.
if redis.call('HGET', KEYS[1], 'state') == 'listing' then redis.call('HSET', KEYS[1], 'state', 'scanning') end
