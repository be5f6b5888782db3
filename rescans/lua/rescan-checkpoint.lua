-- A page's counters and the next cursor in one step, only if the cursor is still where this
-- runner read it (a second runner of the same rescan, after a lost lock, loses the race and stops).
-- KEYS: rescan. ARGV: expected page, next cursor (JSON), listing done (0/1), then field, amount…
local cursor = redis.call('HGET', KEYS[1], 'cursor')
if not cursor or cjson.decode(cursor).page ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'cursor', ARGV[2], 'listing_done', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
