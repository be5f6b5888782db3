-- The current signing secret becomes the previous one (valid until ARGV[2], epoch ms) unless the
-- grace period is zero; in one step, so two rotations at once cannot both keep the same secret.
local current = redis.call('HGET', KEYS[1], 'signing_secret')
if not current then return 0 end
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], 'previous_signing_secret', current, 'previous_signing_secret_valid_until', ARGV[2])
else
  redis.call('HDEL', KEYS[1], 'previous_signing_secret', 'previous_signing_secret_valid_until')
end
redis.call('HSET', KEYS[1], 'signing_secret', ARGV[1], 'modification_date', ARGV[4])
return 1
