-- One rescan at a time per tenant: the active marker is taken only if it is free or names a
-- rescan that has ended (or expired). KEYS: active marker, rescan, tenant's rescan list,
-- ARGV: id, fields (JSON), created ms, TTL s, active states (JSON).
local active = redis.call('GET', KEYS[1])
if active then
  local state = redis.call('HGET', KEYS[4], 'state')
  for _, running in ipairs(cjson.decode(ARGV[5])) do
    if state == running then return active end
  end
end
local fields = cjson.decode(ARGV[2])
for name, value in pairs(fields) do redis.call('HSET', KEYS[2], name, value) end
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return false
