-- Release the lock only if it still holds our token; then announce the release on the
-- channel in ARGV[2], if given, so that waiters in other processes go on at once.
if redis.call("get", KEYS[1]) == ARGV[1] then
    redis.call("del", KEYS[1])
    if ARGV[2] then
        redis.call("publish", ARGV[2], KEYS[1])
    end
    return 1
end
return 0
