"""``Region``: dogpile's region API for synchronous code on the Rust region, on the memory
backend and on Redis: values, the stampede across threads (one creator run per key), the
multi-key read-through in one creator call, decorated functions whose keys and values
dogpile.cache regions share, and a creator that raises."""

import os
import threading
import time
import uuid
from typing import Any, Dict, List

import pytest
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

import dogpile_rs

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]
BACKENDS = {
    "memory": ("dogpile_rs.memory", {}),
    "redis": ("dogpile_rs.redis_advanced", {"url": URL}),
    "redis_lock": ("dogpile_rs.redis_advanced", {"url": URL, "distributed_lock": True}),
}


def region(kind: str, **configure: Any) -> dogpile_rs.Region:
    backend, arguments = BACKENDS[kind]
    return dogpile_rs.make_region().configure(backend, arguments=arguments, **configure)


def key() -> str:
    return f"sync:{uuid.uuid4().hex}"


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_values_in_and_out(kind: str) -> None:
    r = region(kind, expiration_time=300)
    a, b = key(), key()
    assert r.get(a) is NO_VALUE
    r.set(a, {"n": 1})
    r.set_multi({b: [1, 2]})
    assert r.get(a) == {"n": 1} and r.get_multi([a, b, key()]) == [{"n": 1}, [1, 2], NO_VALUE]
    r.delete(a)
    r.delete_multi([b])
    assert r.get_multi([a, b]) == [NO_VALUE, NO_VALUE]
    assert r.get_multi([]) == [] and not r.key_is_locked(a)
    assert r.get_or_create(a, lambda x, y=0: x + y, creator_args=((1,), {"y": 2})) == 3
    r.invalidate()
    assert r.get(a) is NO_VALUE


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_threads_on_five_keys_run_one_creator_per_key(kind: str) -> None:
    r = region(kind, expiration_time=300)
    keys = [key() for _ in range(5)]
    runs: List[str] = []
    got: List[Any] = []

    def create(k: str) -> str:
        runs.append(k)
        time.sleep(0.1)
        return k.upper()

    def caller(i: int) -> None:
        k = keys[i % 5]
        got.append((k, r.get_or_create(k, create, creator_args=((k,), {}))))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(runs) == sorted(keys)
    assert len(got) == 40 and all(v == k.upper() for k, v in got)


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_a_hundred_keys_are_read_through_in_one_creator_call(kind: str) -> None:
    r = region(kind, expiration_time=300)
    keys = [key() for _ in range(100)]
    r.set_multi({k: f"had {k}" for k in keys[::2]})
    calls: List[tuple] = []  # type: ignore[type-arg]

    def create(*wanted: str) -> List[str]:
        calls.append(wanted)
        return [f"made {k}" for k in wanted]

    got = r.get_or_create_multi(keys, create)
    assert got == [f"had {k}" if i % 2 == 0 else f"made {k}" for i, k in enumerate(keys)]
    assert len(calls) == 1 and sorted(calls[0]) == sorted(keys[1::2])
    assert r.get_or_create_multi(keys, create) == got and len(calls) == 1


def test_a_creator_that_raises_reaches_the_caller_and_frees_the_key() -> None:
    r = region("redis_lock")
    k = key()

    def broken() -> Any:
        raise LookupError("no such user")

    with pytest.raises(LookupError, match="no such user"):
        r.get_or_create(k, broken)
    assert not r.key_is_locked(k)
    assert r.get_or_create(k, lambda: "made") == "made"


def test_decorated_functions_share_keys_and_values_with_dogpile_regions() -> None:
    r = region("redis", expiration_time=300)
    theirs = make_region().configure("dogpile.cache.redis", arguments={"url": URL})
    namespace = uuid.uuid4().hex
    calls: List[Any] = []

    @r.cache_on_arguments(namespace=namespace)
    def user(user_id: int) -> Dict[str, int]:
        calls.append(user_id)
        return {"id": user_id}

    @r.cache_multi_on_arguments(namespace=namespace)
    def users(*ids: int) -> List[Dict[str, int]]:
        calls.append(ids)
        return [{"id": i} for i in ids]

    assert user(42) == {"id": 42} and user(42) == {"id": 42} and calls == [42]
    key_of = theirs.function_key_generator(namespace, user.original)  # type: ignore[attr-defined]
    assert theirs.get(key_of(42)) == {"id": 42}
    user.set({"id": 0}, 42)  # type: ignore[attr-defined]
    assert user.get(42) == {"id": 0}  # type: ignore[attr-defined]
    assert user.refresh(42) == {"id": 42}  # type: ignore[attr-defined]
    user.invalidate(42)  # type: ignore[attr-defined]
    assert user.get(42) is NO_VALUE  # type: ignore[attr-defined]
    assert users(1, 2) == [{"id": 1}, {"id": 2}] and users(2, 3) == [{"id": 2}, {"id": 3}]
    assert calls[-2:] == [(1, 2), (3,)]
    keys_of = theirs.function_multi_key_generator(namespace, users.original)  # type: ignore[attr-defined]
    assert theirs.get_multi(keys_of(1, 3)) == [{"id": 1}, {"id": 3}]


def test_configure_from_config_and_configured_twice() -> None:
    r = dogpile_rs.make_region().configure_from_config(
        {"cache.backend": "dogpile_rs.redis_advanced", "cache.expiration_time": "300", "cache.arguments.url": URL},
        "cache.",
    )
    k = key()
    r.set(k, 1)
    assert r.get(k) == 1
    with pytest.raises(Exception, match="already configured"):
        r.configure("dogpile_rs.memory")
    with pytest.raises(Exception, match="No backend"):
        dogpile_rs.make_region().get(k)
