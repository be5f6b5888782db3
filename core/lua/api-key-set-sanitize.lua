-- Sets (ARGV[1] = '1' or '0') or drops (ARGV[1] = '') an API key's sanitize override.
-- Only touches keys that exist: HSET on a missing key would create a half-formed record.
-- KEYS: key record. Returns 1, or 0 when there is no such key.
if redis.call('HEXISTS', KEYS[1], 'tenant_id') == 0 then return 0 end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'sanitize')
else
  redis.call('HSET', KEYS[1], 'sanitize', ARGV[1])
end
return 1
