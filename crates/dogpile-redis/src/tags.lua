-- Records a tag invalidation: KEYS are the tags' records, ARGV[1] the stamp ("hard <at>" or
-- "soft <at>"), ARGV[2] its time, ARGV[3] the retention in milliseconds, ARGV[4] the channel
-- and ARGV[5] the announcement. A record keeps the later of its stamp and this one.
local at = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  local old = redis.call('GET', key)
  local old_at = old and tonumber(string.match(old, ' (.+)$'))
  if not old_at or old_at <= at then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[3])
  end
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
