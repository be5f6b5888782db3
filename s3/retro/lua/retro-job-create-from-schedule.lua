-- A schedule's firing, made once however often it is retried. KEYS[4] tenant jobs, KEYS[5]
-- schedule. ARGV: id, created ms, window, fallback from, to, then field/value pairs.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[5]) == 0 then return -1 end
local from = ARGV[4]
if ARGV[3] == 'since-last-run' then
  local last = redis.call('HGET', KEYS[5], 'last_run')
  if last and last < ARGV[5] then from = last end
end
redis.call('HSET', KEYS[1], 'from', from, 'to', ARGV[5])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
local previous = redis.call('HGET', KEYS[5], 'last_run')
if not previous or previous < ARGV[5] then
  redis.call('HSET', KEYS[5], 'last_run', ARGV[5], 'last_job_id', ARGV[1])
end
return 1
