-- Records a skipped firing on the schedule, unless the schedule has been deleted meanwhile.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_skipped_at', ARGV[1], 'last_skipped_for', ARGV[2], 'last_skipped_state', ARGV[3])
return 1
