"""The L1 from Python: with an ``l1`` table in the arguments, a hot key is served from process
memory (no command reaches Redis), and Redis' client tracking keeps it coherent when the
writer is another Python process's region on the plugin 0.5.0 or on dogpile.cache's redis-py
backend; on one server and on a cluster."""

import time
import uuid

import pytest
import redis
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

import dogpile_backend_redis_advanced  # noqa: F401 (registers the plugin's backends)
import dogpile_rs  # noqa: F401


def commands(client, name):
    return int(client.info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))


def eventually(read, expected, seconds=5.0):
    deadline = time.monotonic() + seconds
    while True:
        got = read()
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


def warm(read, reads_from_redis, seconds=5.0):
    """Reads until a read costs nothing on the server (the L1 holds the key), and returns it."""
    deadline = time.monotonic() + seconds
    while True:
        before = reads_from_redis()
        got = read()
        if reads_from_redis() == before or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


@pytest.mark.parametrize("writer", ["dogpile_backend_redis_advanced.hstore", "dogpile.cache.redis"])
def test_a_hot_key_is_served_from_memory_and_a_python_writer_invalidates_it(private_redis_url, writer):
    url = private_redis_url
    ours = make_region().configure(
        "dogpile_rs.redis_advanced_hstore", arguments={"url": url, "l1": {"capacity": 1000}}
    )
    theirs = make_region().configure(writer, arguments={"url": url})
    raw = redis.Redis.from_url(url)
    key = f"l1:{uuid.uuid4().hex}"
    theirs.set(key, "first")
    # The L1 serves once its key tracking connection is up, which happens in the background
    # after `configure`: until then every read goes to Redis. Wait until one read is served
    # from memory (at most 5 s), then 200 more must all be.
    assert warm(lambda: ours.get(key), lambda: commands(raw, "get")) == "first"
    before = commands(raw, "get")
    for _ in range(200):
        assert ours.get(key) == "first"
    assert commands(raw, "get") == before, "the hot key was read from Redis, not from the L1"
    theirs.set(key, "second")
    assert eventually(lambda: ours.get(key), "second") == "second"
    theirs.delete(key)
    assert eventually(lambda: ours.get(key), NO_VALUE) is NO_VALUE
    raw.close()


def test_the_l1_is_coherent_on_a_cluster(redis_cluster):
    nodes = [{"host": n.split(":")[0], "port": int(n.split(":")[1])} for n in redis_cluster]
    ours = make_region().configure(
        "dogpile_rs.redis_advanced_cluster", arguments={"startup_nodes": nodes, "l1": {"capacity": 1000}}
    )
    host, port = redis_cluster[0].split(":")
    writer = redis.RedisCluster(host=host, port=int(port))
    theirs = make_region().configure("dogpile_rs.redis_advanced_cluster", arguments={"startup_nodes": nodes})
    keys = [f"l1c:{i}:{uuid.uuid4().hex}" for i in range(30)]
    theirs.set_multi({k: 1 for k in keys})
    assert ours.get_multi(keys) == [1] * len(keys)
    # A plain redis-py client deletes them on whatever primaries hold them.
    for k in keys:
        writer.delete(k)
    assert eventually(lambda: ours.get_multi(keys), [NO_VALUE] * len(keys)) == [NO_VALUE] * len(keys)
    writer.close()
