-- Writes fields of one hash and, per the TTL policy, its TTL: all or nothing. On a key of
-- another type the first HSET fails before anything is written, and no TTL is set.
-- KEYS[1]: the hash. ARGV[1]: the TTL in milliseconds. ARGV[2]: "always", or "created" for
-- only when this write creates the hash. ARGV[3..]: field, value, field, value, ...
local set_ttl = ARGV[2] == "always" or redis.call("EXISTS", KEYS[1]) == 0
-- HSET in slices, within Lua's limit on unpacked arguments.
for i = 3, #ARGV, 1000 do
    redis.call("HSET", KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if set_ttl then
    redis.call("PEXPIRE", KEYS[1], ARGV[1])
end
return 1
