-- Sets (ARGV[1] non-empty) or drops (ARGV[1] = '') an API key's allowed content types override.
-- Only touches keys that exist: HSET on a missing key would create a half-formed record.
-- KEYS: key record. Returns 1, or 0 when there is no such key.
if redis.call('HEXISTS', KEYS[1], 'tenant_id') == 0 then return 0 end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'allowed_content_types')
else
  redis.call('HSET', KEYS[1], 'allowed_content_types', ARGV[1])
end
return 1
