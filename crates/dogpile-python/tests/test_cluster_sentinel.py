"""The cluster and sentinel variants, on a private Redis Cluster and a private Sentinel set."""

import asyncio
from typing import Any

import pytest
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

import dogpile_rs


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


def exercise_async(configured: Any, hash_keys: bool) -> None:
    """The async region's reads, writes and read-through on a configured backend."""

    async def main() -> None:
        backend, arguments = configured
        region = dogpile_rs.make_async_region().configure(backend, expiration_time=300, arguments=arguments)
        keys = [("h", f"f{i}") if hash_keys else f"async:{i}" for i in range(20)]
        await region.set_multi({k: i for i, k in enumerate(keys)})
        assert await region.get_multi(keys) == list(range(20))
        fresh = ("h2", "x") if hash_keys else "async:fresh"
        got = await asyncio.gather(*[region.get_or_create(fresh, lambda: "made") for _ in range(50)])
        assert got == ["made"] * 50
        assert await region.get_or_create_multi(keys[:3], lambda *ks: list(ks)) == [0, 1, 2]

    asyncio.run(main())


def test_async_region_on_the_cluster_and_sentinel_and_with_an_l1(redis_cluster, redis_sentinel) -> None:
    nodes = [{"host": node.split(":")[0], "port": int(node.split(":")[1])} for node in redis_cluster]
    host, port = redis_sentinel.split(":")
    sentinel = {"sentinels": [(host, int(port))], "service_name": "mymaster", "distributed_lock": True}
    exercise_async(("dogpile_rs.redis_advanced_cluster", {"startup_nodes": nodes, "distributed_lock": True}), False)
    exercise_async(("dogpile_rs.redis_advanced_hstore_cluster", {"startup_nodes": nodes}), True)
    exercise_async(("dogpile_rs.redis_advanced_sentinel", sentinel), False)
    exercise_async(("dogpile_rs.redis_advanced_hstore_sentinel", dict(sentinel, l1={"capacity": 100})), True)
