-- ARGV: expected page, next page, next bucket, next token, next after, listed, matched, skipped,
-- done ('1' when this was the last page of the last bucket), now, ttl.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'gone' end
if tonumber(redis.call('HGET', KEYS[1], 'cp_page') or '0') ~= tonumber(ARGV[1]) then return 'moved' end
redis.call('HINCRBY', KEYS[1], 'listed', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'matched', ARGV[7])
redis.call('HINCRBY', KEYS[1], 'skipped', ARGV[8])
redis.call('HSET', KEYS[1], 'cp_page', ARGV[2], 'cp_bucket', ARGV[3], 'cp_token', ARGV[4], 'cp_after', ARGV[5], 'progress_at', ARGV[10])
if ARGV[9] == '1' then
  redis.call('HSET', KEYS[1], 'crawl_done', '1')
  if state == 'crawling' then
    redis.call('HSET', KEYS[1], 'state', 'scanning')
    complete_if_done(ARGV[10], ARGV[11])
  end
end
return redis.call('HGET', KEYS[1], 'state')
