-- Shared by the scripts that time leases: `now`, Redis's own clock in ms, so workers with skewed
-- clocks agree.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
