"""The plugin's arguments, as a Python user passes them, reach the Rust backends."""

import os
from urllib.parse import urlsplit

from dogpile.cache import make_region

from test_faults import raw

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]
PARTS = urlsplit(URL)
DB = int(PARTS.path.lstrip("/") or 0)


def ttl_ms(key):
    reply = raw("PTTL", key)
    assert reply.startswith(b":"), reply
    return int(reply[1:].strip())


def test_host_port_and_db_instead_of_a_url():
    other_db = 15 - DB
    region = make_region().configure(
        "dogpile_rs.redis_advanced",
        arguments={"host": PARTS.hostname, "port": PARTS.port, "db": other_db, "password": None},
    )
    region.set("args:db", "there")
    assert region.get("args:db") == "there"
    assert raw("EXISTS", "args:db") == b":0\r\n", "written to the db given, not the test's"


def test_redis_expiration_time_and_the_hash_ttl_policy():
    arguments = {"url": URL, "redis_expiration_time": 60, "redis_expiration_time_hash": True}
    region = make_region().configure("dogpile_rs.redis_advanced_hstore", arguments=arguments)
    region.set("args:plain", 1)
    region.set_multi({("args:hash", "a"): 1, ("args:hash", "b"): 2})
    assert 55_000 < ttl_ms("args:plain") <= 60_000
    assert 55_000 < ttl_ms("args:hash") <= 60_000
    assert region.get_multi([("args:hash", "a"), ("args:hash", "b")]) == [1, 2]


def test_lock_prefix_and_lock_timeout_name_the_lock_and_its_ttl():
    arguments = {"url": URL, "distributed_lock": True, "lock_prefix": "_lk:", "lock_timeout": 5}
    region = make_region().configure("dogpile_rs.redis_advanced_hstore", arguments=arguments)
    mutex = region.backend.get_mutex(("args:h", "f"))
    assert mutex.acquire(False)
    try:
        assert raw("EXISTS", "_lk:args:h,f") == b":1\r\n", "the plugin's lock name for a hash field"
        assert 0 < ttl_ms("_lk:args:h,f") <= 5_000
        assert region.key_is_locked(("args:h", "f"))
    finally:
        mutex.release()
    assert not region.key_is_locked(("args:h", "f"))
