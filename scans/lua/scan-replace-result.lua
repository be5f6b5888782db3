-- Replaces a stored result with a rescan's, only if it is still the one the rescan compared
-- against (not deleted, not replaced meanwhile). A listed result moves to the outcome index of
-- its new result (a rescan can change a verdict), keeping its completion time. KEYS: scan,
-- result index, outcome indexes (clean, findings, error). ARGV: expected result, new result,
-- scan id, new outcome (clean, findings or error).
if redis.call('HGET', KEYS[1], 'state') ~= 'done' then return 0 end
if redis.call('HGET', KEYS[1], 'result') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'result', ARGV[2])
local completed = redis.call('ZSCORE', KEYS[2], ARGV[3])
if completed then
  local outcomeKeys = { clean = KEYS[3], findings = KEYS[4], error = KEYS[5] }
  for k = 3, 5 do redis.call('ZREM', KEYS[k], ARGV[3]) end
  redis.call('ZADD', outcomeKeys[ARGV[4]], completed, ARGV[3])
  -- The outcome index expires with the result index (never sooner: PTTL is -1 without one).
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then redis.call('PEXPIRE', outcomeKeys[ARGV[4]], ttl) end
end
return 1
