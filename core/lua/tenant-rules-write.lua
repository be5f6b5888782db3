-- Changes one of a tenant's rule files if its rules are still at the version the change was
-- checked against (core/tenant-rules.ts): the whole set was compiled with the change, so a change
-- made meanwhile by another request must not slip between the check and the write.
-- KEYS[1] rule files (HASH), KEYS[2] version (STRING)
-- ARGV[1] expected version, ARGV[2] file name, ARGV[3] the file's JSON ('' deletes it)
-- Returns the new version; -1 when the version moved on; -2 when the file to delete is gone.
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then
  return -1
end
if ARGV[3] == '' then
  if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then
    return -2
  end
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
return redis.call('INCR', KEYS[2])
