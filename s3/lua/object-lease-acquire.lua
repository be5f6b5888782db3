-- Takes the lease, or reports its holder (and, with a retro job id, registers that job as
-- waiting for the holder's outcome) in one step, so a release cannot slip in between.
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ARGV[1]}
end
if ARGV[3] ~= '' then
  local watchers = ARGV[4] .. holder
  redis.call('RPUSH', watchers, ARGV[3])
  redis.call('PEXPIRE', watchers, ARGV[2])
end
return {0, holder}
