-- Shared by the retro job scripts (before each): end the job as completed once the crawl is done and every matched object has an
-- outcome (KEYS[1] job, KEYS[2] credited, KEYS[3] pages; now; ttl).
local function finish(state, now, ttl)
  redis.call('HSET', KEYS[1], 'state', state, 'finished_at', now)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
  if state == 'completed' then redis.call('DEL', KEYS[2]) else redis.call('EXPIRE', KEYS[2], ttl) end
end
local function complete_if_done(now, ttl)
  if redis.call('HGET', KEYS[1], 'state') ~= 'scanning' then return end
  local scanned = tonumber(redis.call('HGET', KEYS[1], 'scanned') or '0')
  local matched = tonumber(redis.call('HGET', KEYS[1], 'matched') or '0')
  if scanned >= matched then finish('completed', now, ttl) end
end
