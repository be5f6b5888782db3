-- A reconcile pass over a `scanning` job has ended (s3/retro/reconcile.ts). ARGV: objects it
-- submitted again, objects it credited from settled scans, '1' when every matched object still
-- in the window was found credited (nothing submitted, nothing in flight), now, ttl.
-- Returns the job's state afterwards (false: no such job).
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
-- Counted whatever the state: the credits of the pass itself may have completed the job.
redis.call('HINCRBY', KEYS[1], 'reconciliations', 1)
redis.call('HINCRBY', KEYS[1], 'reconciled_objects', tonumber(ARGV[1]) + tonumber(ARGV[2]))
if state ~= 'scanning' then return state end
redis.call('HSET', KEYS[1], 'progress_at', ARGV[4])
if ARGV[3] == '1' then
  -- What the crawl matched and no listing shows any more (deleted, or modified out of the window
  -- since) can never be scanned: counted as errors, so the job ends instead of waiting for ever.
  local scanned = tonumber(redis.call('HGET', KEYS[1], 'scanned') or '0')
  local matched = tonumber(redis.call('HGET', KEYS[1], 'matched') or '0')
  if scanned < matched then
    redis.call('HINCRBY', KEYS[1], 'errors', matched - scanned)
    redis.call('HSET', KEYS[1], 'scanned', matched, 'error',
      (matched - scanned) .. ' matched object(s) were no longer in the bucket, or had changed, when the job was reconciled')
  end
  complete_if_done(ARGV[4], ARGV[5])
end
return redis.call('HGET', KEYS[1], 'state')
