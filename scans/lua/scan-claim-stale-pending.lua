-- Takes up to ARGV[2] pending-index members written (or last claimed) at or before ARGV[1] and
-- stamps them ARGV[3] (now): two reapers running at once never take the same scan, and a scan
-- that is still legitimately pending is looked at again only a grace period later, so each run
-- moves on to other scans instead of re-reading the same oldest ones.
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(members) do redis.call('ZADD', KEYS[1], 'XX', ARGV[3], member) end
return members
