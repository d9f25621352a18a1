"""The cluster and sentinel variants, on a private Redis Cluster and a private Sentinel set."""

import pytest
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE


def exercise(region, hash_keys):
    """Values over many slots, both ways, with the lock."""
    keys = [f"cs:{i}" for i in range(40)]
    if hash_keys:
        keys += [(f"cs:h{i % 4}", f"f{i}") for i in range(40)]
    values = {key: {"n": i} for i, key in enumerate(keys)}
    region.set_multi(values)
    assert region.get_multi(keys) == [values[key] for key in keys]
    assert region.get(keys[-1]) == values[keys[-1]]
    region.delete_multi(keys[:10])
    assert region.get_multi(keys[:12]) == [NO_VALUE] * 10 + [values[keys[10]], values[keys[11]]]
    assert region.get_or_create("cs:created", lambda: "made") == "made"
    mutex = region.backend.get_mutex("cs:lock")
    assert mutex.acquire(False)
    assert not region.backend.get_mutex("cs:lock").acquire(False)
    mutex.release()
    assert not mutex.locked()


@pytest.mark.parametrize(
    "backend,hash_keys",
    [("dogpile_rs.redis_advanced_cluster", False), ("dogpile_rs.redis_advanced_hstore_cluster", True)],
)
def test_cluster_variants(redis_cluster, backend, hash_keys):
    # dogpile's form of startup_nodes: a list of {host, port} dictionaries.
    nodes = [{"host": node.split(":")[0], "port": int(node.split(":")[1])} for node in redis_cluster]
    arguments = {"startup_nodes": nodes, "distributed_lock": True, "redis_expiration_time": 3600}
    exercise(make_region().configure(backend, arguments=arguments), hash_keys)


@pytest.mark.parametrize(
    "backend,hash_keys",
    [("dogpile_rs.redis_advanced_sentinel", False), ("dogpile_rs.redis_advanced_hstore_sentinel", True)],
)
def test_sentinel_variants(redis_sentinel, backend, hash_keys):
    host, port = redis_sentinel.split(":")
    arguments = {
        "sentinels": [(host, int(port))],
        "service_name": "mymaster",
        "distributed_lock": True,
        "redis_expiration_time": 3600,
    }
    exercise(make_region().configure(backend, arguments=arguments), hash_keys)
