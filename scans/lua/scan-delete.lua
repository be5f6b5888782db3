-- A delete leaves a tombstone until the record would have expired anyway, so that a job still in
-- flight sees "deleted" rather than "unknown" and drops its result; the scan leaves the pending
-- index, its tenant's result index and the outcome indexes; its callback attempts go with the
-- result. KEYS: scan, pending index, result index, outcome indexes (clean, findings, error),
-- callback attempts. ARGV: pending member, scan id. Returns 0
-- (nothing to delete), 1 (a result was deleted) or 2 (a pending scan was deleted).
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'deleted' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'deleted')
redis.call('HDEL', KEYS[1], 'result')
redis.call('ZREM', KEYS[2], ARGV[1])
for k = 3, 6 do redis.call('ZREM', KEYS[k], ARGV[2]) end
redis.call('DEL', KEYS[7])
if state == 'pending' then return 2 end
return 1
