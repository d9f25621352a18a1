"""The two I/O paths: by default a calling thread drives its own I/O (a twin backend per
thread, on a runtime of that thread's); ``io="runtime"`` hands every call to the shared
runtime's threads. Both store the same values; threads get their own connections, and the
twins of a dropped backend go with its connections."""

import gc
import os
import threading
import uuid

import pytest
import redis
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]


def region(**arguments):
    return make_region().configure("dogpile_rs.redis_advanced_hstore", arguments={"url": URL, **arguments})


@pytest.mark.parametrize("io", ["calling_thread", "runtime"])
def test_both_paths_store_and_read_the_same_values(io):
    ours, other = region(io=io), region(io="runtime" if io == "calling_thread" else "calling_thread")
    keys = [f"io:{uuid.uuid4().hex}" for _ in range(10)] + [(f"io:h:{uuid.uuid4().hex}", "f")]
    ours.set_multi({k: i for i, k in enumerate(keys)})
    assert other.get_multi(keys) == list(range(len(keys)))
    ours.delete_multi(keys[:2])
    assert other.get_multi(keys[:3]) == [NO_VALUE, NO_VALUE, 2]
    assert ours.get_or_create(keys[0], lambda: "made") == "made"


def test_an_unknown_io_is_refused():
    with pytest.raises(ValueError, match="unknown io"):
        region(io="somewhere")


def test_sixteen_threads_each_drive_their_own_calls():
    shared = region()
    keys = [f"io:t:{uuid.uuid4().hex}" for _ in range(16)]
    errors = []

    def work(n):
        try:
            for round_ in range(50):
                shared.set(keys[n], (n, round_))
                assert shared.get(keys[n]) == (n, round_)
                assert shared.get_multi(keys[:4])[0] is not None
        except Exception as err:  # reported below, with the thread
            errors.append((n, err))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert shared.get_multi(keys) == [(n, 49) for n in range(16)]


def test_the_connections_of_dropped_backends_are_closed(private_redis_url):
    admin = redis.Redis.from_url(private_redis_url)
    before = admin.info("clients")["connected_clients"]

    def private():
        return make_region().configure("dogpile_rs.redis_advanced", arguments={"url": private_redis_url})

    for _ in range(40):
        dropped = private()
        dropped.get("io:missing")
        del dropped
        gc.collect()
    private().get("io:missing")  # this thread's next call drops the dead twins
    after = admin.info("clients")["connected_clients"]
    admin.close()
    assert after - before <= 4, f"{after - before} more connections after 40 dropped backends"


def test_sixteen_threads_reads_coalesced_on_the_shared_runtime_cost_fewer_commands(private_redis_url):
    # The threads' calls share the runtime's connection, where reads issued while one is out
    # go together as one MGET.
    arguments = {"url": private_redis_url, "io": "runtime", "coalesce_reads": True}
    coalesced = make_region().configure("dogpile_rs.redis_advanced", arguments=arguments)
    keys = [f"c:{i}" for i in range(100)]
    coalesced.set_multi({k: i for i, k in enumerate(keys)})
    client = redis.Redis.from_url(private_redis_url)
    client.config_resetstat()
    errors = []

    def work():
        try:
            for n in range(500):
                assert coalesced.get_or_create(keys[n % 100], dict) == n % 100
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    stats = client.info("commandstats")
    calls = {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("get", "mget")}
    assert calls["mget"] > 0 and calls["get"] + calls["mget"] < 16 * 500 / 2, calls
