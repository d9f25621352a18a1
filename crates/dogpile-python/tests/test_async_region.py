"""``AsyncRegion``: dogpile's region API awaitable on the Rust region, on the memory backend
and on Redis: values, expiry and invalidation, the stampede (one creator run per expiry among
a thousand coroutines), cancellation, a creator that raises, the caller's context, decorated
functions whose keys and values dogpile.cache regions share."""

import asyncio
import contextvars
import os
import subprocess
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


def region(kind: str, **configure: Any) -> dogpile_rs.AsyncRegion:
    backend, arguments = BACKENDS[kind]
    return dogpile_rs.make_async_region().configure(backend, arguments=arguments, **configure)


def key() -> str:
    return f"async:{uuid.uuid4().hex}"


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", sorted(BACKENDS))
async def test_values_in_and_out(kind: str) -> None:
    r = region(kind, expiration_time=300)
    a, b, c = key(), key(), key()
    assert await r.get(a) is NO_VALUE
    await r.set(a, {"id": 1, "tags": ("x", "y")})
    assert await r.get(a) == {"id": 1, "tags": ("x", "y")}
    await r.set_multi({b: [1, 2], c: None})
    assert await r.get_multi([a, b, c, key()]) == [{"id": 1, "tags": ("x", "y")}, [1, 2], None, NO_VALUE]
    await r.delete(a)
    await r.delete_multi([b, c])
    assert await r.get_multi([a, b, c]) == [NO_VALUE] * 3
    assert await r.get_multi([]) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_expiry_and_invalidation_follow_dogpile(kind: str) -> None:
    r = region(kind, expiration_time=0.3)
    k = key()
    await r.set(k, "v")
    await asyncio.sleep(0.4)
    assert await r.get(k) is NO_VALUE
    assert await r.get(k, ignore_expiration=True) == "v"
    assert await r.get(k, expiration_time=-1) == "v"
    await r.set(k, "w")
    r.invalidate(hard=False)
    assert await r.get_or_create(k, lambda: "created") == "created"
    await r.set(k, "x")
    await asyncio.sleep(0.01)
    r.invalidate()
    assert await r.get(k) is NO_VALUE


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["memory", "redis_lock"])
async def test_a_thousand_coroutines_on_ten_keys_run_one_creator_per_key_and_expiry(kind: str) -> None:
    r = region(kind, expiration_time=0.5)
    keys = [key() for _ in range(10)]
    runs: Dict[str, int] = {k: 0 for k in keys}

    async def create(k: str) -> str:
        runs[k] += 1
        await asyncio.sleep(0.05)
        return f"value of {k}"

    for expiry in range(2):
        calls = [r.get_or_create(k, create, creator_args=((k,), {})) for k in keys for _ in range(100)]
        got = await asyncio.gather(*calls)
        assert got == [f"value of {k}" for k in keys for _ in range(100)]
        assert runs == {k: expiry + 1 for k in keys}
        await asyncio.sleep(0.6)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["memory", "redis_lock"])
async def test_a_cancelled_caller_frees_its_key_and_cancels_its_creator(kind: str) -> None:
    r = region(kind)
    k = key()
    seen: List[str] = []

    async def slow() -> int:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("creator cancelled")
            raise
        return 1

    call = asyncio.ensure_future(r.get_or_create(k, slow))
    await asyncio.sleep(0.1)
    assert await r.key_is_locked(k)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    for _ in range(100):
        if not await r.key_is_locked(k) and seen:
            break
        await asyncio.sleep(0.02)
    assert seen == ["creator cancelled"]
    assert not await r.key_is_locked(k)
    assert await r.get_or_create(k, lambda: 2) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["memory", "redis_lock"])
async def test_a_creator_that_raises_reaches_the_caller_and_frees_the_key(kind: str) -> None:
    r = region(kind)
    k = key()

    class Failure(Exception):
        pass

    async def fails() -> None:
        raise Failure("no value today")

    with pytest.raises(Failure, match="no value today"):
        await r.get_or_create(k, fails)
    assert not await r.key_is_locked(k)
    assert await r.get(k) is NO_VALUE
    assert await r.get_or_create(k, lambda: "later") == "later"


@pytest.mark.asyncio
async def test_should_cache_fn_and_the_creators_own_object() -> None:
    r = region("redis")
    k = key()
    made = {"list": [1]}
    assert await r.get_or_create(k, lambda: made, should_cache_fn=lambda v: False) is made
    assert await r.get(k) is NO_VALUE
    assert await r.get_or_create(k, lambda: made) is made
    assert await r.get(k) == made


@pytest.mark.asyncio
async def test_the_creator_runs_on_the_callers_loop_in_its_context() -> None:
    request = contextvars.ContextVar("request", default="none")
    r = region("memory")
    loop = asyncio.get_running_loop()

    async def create() -> Any:
        return (request.get(), asyncio.get_running_loop() is loop)

    request.set("req-7")
    assert await r.get_or_create(key(), create) == ("req-7", True)


def test_outside_a_running_loop_a_call_is_refused() -> None:
    r = region("memory")
    with pytest.raises(RuntimeError):
        r._rust.get("k")


def test_calls_in_flight_when_the_loop_closes_leave_the_key_free() -> None:
    r = region("memory")
    k = key()
    loop = asyncio.new_event_loop()

    async def slow() -> int:
        await asyncio.sleep(30)
        return 1

    task = loop.create_task(r.get_or_create(k, slow))
    loop.run_until_complete(asyncio.sleep(0.1))
    task.cancel()
    loop.run_until_complete(asyncio.sleep(0.1))
    loop.close()

    async def after() -> Any:
        for _ in range(100):
            if not await r.key_is_locked(k):
                break
            await asyncio.sleep(0.02)
        return await r.get_or_create(k, lambda: "fresh")

    assert asyncio.run(after()) == "fresh"


@pytest.mark.asyncio
async def test_decorated_functions_share_keys_and_values_with_dogpile_regions() -> None:
    r = region("redis")
    theirs = make_region().configure("dogpile.cache.redis", arguments={"url": URL})
    calls: List[int] = []
    namespace = uuid.uuid4().hex

    @r.cache_on_arguments(namespace=namespace)
    async def user(user_id: int) -> Dict[str, int]:
        calls.append(user_id)
        return {"id": user_id}

    assert await user(42) == {"id": 42}
    assert await user(42) == {"id": 42} and calls == [42]
    # dogpile.cache's own Redis backend reads the entry under the function key it makes.
    key_of = theirs.function_key_generator(namespace, user.original)  # type: ignore[attr-defined]
    assert theirs.get(key_of(42)) == {"id": 42}
    await user.set({"id": 0}, 42)  # type: ignore[attr-defined]
    assert await user.get(42) == {"id": 0}  # type: ignore[attr-defined]
    assert await user.refresh(42) == {"id": 42} and calls == [42, 42]  # type: ignore[attr-defined]
    await user.invalidate(42)  # type: ignore[attr-defined]
    assert await user.get(42) is NO_VALUE  # type: ignore[attr-defined]
    assert await user(42) == {"id": 42} and calls == [42, 42, 42]


@pytest.mark.asyncio
async def test_what_a_dogpile_region_wrote_is_read_and_the_reverse() -> None:
    r = region("redis")
    theirs = make_region().configure("dogpile.cache.redis", arguments={"url": URL})
    a, b = key(), key()
    theirs.set(a, {"from": "dogpile.cache"})
    assert await r.get(a) == {"from": "dogpile.cache"}
    await r.set(b, {"from": "AsyncRegion"})
    assert theirs.get(b) == {"from": "AsyncRegion"}


@pytest.mark.asyncio
async def test_hash_keys_and_a_key_mangler() -> None:
    r = dogpile_rs.make_async_region(key_mangler=lambda k: "m:" + k).configure(  # type: ignore[operator]
        "dogpile_rs.redis_advanced_hstore", arguments={"url": URL}
    )
    k = key()
    await r.set(k, 1)
    assert await r.get(k) == 1
    plain = dogpile_rs.make_async_region().configure("dogpile_rs.redis_advanced_hstore", arguments={"url": URL})
    assert await plain.get("m:" + k) == 1
    field = (key(), "field")
    await plain.set(field, "in a hash")
    assert await plain.get(field) == "in a hash"


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", sorted(BACKENDS))
async def test_get_or_create_multi_makes_the_missing_keys_in_one_call(kind: str) -> None:
    r = dogpile_rs.make_async_region(key_mangler=lambda k: "m:" + k).configure(  # type: ignore[operator]
        BACKENDS[kind][0], arguments=BACKENDS[kind][1], expiration_time=300
    )
    keys = [key() for _ in range(5)]
    await r.set(keys[1], "there")
    calls: List[tuple] = []  # type: ignore[type-arg]

    async def create(*wanted: str) -> List[str]:
        calls.append(wanted)
        await asyncio.sleep(0.01)
        return [f"made {k}" for k in wanted]

    got = await r.get_or_create_multi(keys + [keys[0]], create)
    assert got == [f"made {keys[0]}", "there", *[f"made {k}" for k in keys[2:]], f"made {keys[0]}"]
    # One call, with the keys as given (not mangled), each once.
    assert len(calls) == 1 and sorted(calls[0]) == sorted(k for k in keys if k != keys[1])
    assert await r.get_or_create_multi(keys, create) == got[:5] and len(calls) == 1

    async def wrong_count(*wanted: str) -> List[str]:
        return ["one"]

    with pytest.raises(ValueError, match="values for"):
        await r.get_or_create_multi([key(), key()], wrong_count)
    skipped = [key(), key()]
    assert await r.get_or_create_multi(skipped, create, should_cache_fn=lambda v: v.endswith(skipped[0])) == [
        f"made {k}" for k in skipped
    ]
    assert await r.get_multi(skipped) == [f"made {skipped[0]}", NO_VALUE]


@pytest.mark.asyncio
@pytest.mark.parametrize("asdict", [False, True])
async def test_cache_multi_on_arguments_shares_keys_with_dogpile(asdict: bool) -> None:
    r = region("redis", expiration_time=300)
    theirs = make_region().configure("dogpile.cache.redis", arguments={"url": URL})
    namespace = uuid.uuid4().hex
    calls: List[tuple] = []  # type: ignore[type-arg]

    @r.cache_multi_on_arguments(namespace=namespace, asdict=asdict)
    async def squares(*numbers: int) -> Any:
        calls.append(numbers)
        return {n: n * n for n in numbers} if asdict else [n * n for n in numbers]

    expected: Any = {2: 4, 3: 9} if asdict else [4, 9]
    assert await squares(2, 3) == expected
    four: Any = {2: 4, 3: 9, 4: 16} if asdict else [4, 9, 16]
    assert await squares(2, 3, 4) == four and calls == [(2, 3), (4,)]
    keys_of = theirs.function_multi_key_generator(namespace, squares.original)  # type: ignore[attr-defined]
    assert theirs.get_multi(keys_of(2, 4)) == [4, 16]
    await squares.set({2: -4})  # type: ignore[attr-defined]
    assert await squares.get(2, 3) == [-4, 9]  # type: ignore[attr-defined]
    assert await squares.refresh(2) == ({2: 4} if asdict else [4])  # type: ignore[attr-defined]
    await squares.invalidate(2, 3)  # type: ignore[attr-defined]
    assert await squares.get(2, 3, 4) == [NO_VALUE, NO_VALUE, 16]  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_resilience_options_are_the_rust_regions() -> None:
    with pytest.raises(TypeError, match="unexpected keywords"):
        dogpile_rs.make_async_region().configure("dogpile_rs.memory", fail_safes=1)
    r = dogpile_rs.make_async_region().configure("dogpile_rs.memory", expiration_time=0.2, fail_safe=60)
    k = key()
    assert await r.get_or_create(k, lambda: "first") == "first"
    await asyncio.sleep(0.3)

    def broken() -> str:
        raise ConnectionError("the database is down")

    # Fail-safe: the expired value stands in for a creator that fails.
    assert await r.get_or_create(k, broken) == "first"
    timed = dogpile_rs.make_async_region().configure("dogpile_rs.memory", creator_timeout=0.1)

    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"

    with pytest.raises(dogpile_rs.BackendError, match="timed out|timeout"):
        await asyncio.wait_for(timed.get_or_create(key(), slow), 3)


def test_uvloop_runs_the_region() -> None:
    import uvloop

    r = region("redis_lock", expiration_time=300)
    keys = [key() for _ in range(10)]
    runs: List[str] = []

    async def main() -> List[Any]:
        async def create(k: str) -> str:
            runs.append(k)
            await asyncio.sleep(0.02)
            return k.upper()

        async def slow() -> int:
            await asyncio.sleep(30)
            return 0

        stuck = asyncio.ensure_future(r.get_or_create(keys[0] + "slow", slow))
        await asyncio.sleep(0.05)
        stuck.cancel()
        got = await asyncio.gather(
            *[r.get_or_create(keys[i % 10], create, creator_args=((keys[i % 10],), {})) for i in range(500)]
        )
        got.append(await r.get_or_create(keys[0] + "slow", lambda: "freed"))
        return got

    loop = uvloop.new_event_loop()
    try:
        got = loop.run_until_complete(main())
    finally:
        loop.close()
    assert got[:500] == [keys[i % 10].upper() for i in range(500)] and got[500] == "freed"
    assert sorted(runs) == sorted(keys)


def test_a_redis_killed_and_restarted_under_load_hangs_no_awaitable() -> None:
    import conftest

    process, port, folder = conftest._spawn()
    url = f"redis://127.0.0.1:{port}/0"
    r = dogpile_rs.make_async_region().configure(
        "dogpile_rs.redis_advanced",
        expiration_time=300,
        arguments={"url": url, "distributed_lock": True, "socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    )
    outcomes: Dict[str, int] = {"ok": 0, "error": 0, "ok_after_restart": 0}
    restarted = asyncio.Event()

    async def caller(i: int, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            try:
                # A hung awaitable fails the test here.
                await asyncio.wait_for(r.get_or_create(f"load:{i % 20}", lambda: i), 10)
                outcomes["ok"] += 1
                outcomes["ok_after_restart"] += restarted.is_set()
            except dogpile_rs.BackendError:
                outcomes["error"] += 1
                await asyncio.sleep(0.05)

    async def main() -> None:
        nonlocal process
        deadline = asyncio.get_running_loop().time() + 4
        callers = asyncio.gather(*[caller(i, deadline) for i in range(50)])
        await asyncio.sleep(0.5)
        process.kill()
        process.wait()
        await asyncio.sleep(1)
        binary = conftest._binary("redis-server", "DOGPILE_REDIS_SERVER_BIN", "redis-server")
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        await asyncio.sleep(0.5)
        restarted.set()
        await callers

    try:
        asyncio.run(main())
    finally:
        process.kill()
        process.wait()
    assert outcomes["error"] > 0, outcomes
    assert outcomes["ok_after_restart"] > 0, outcomes


def test_asyncio_run_returning_with_calls_in_flight_frees_their_keys() -> None:
    r = region("redis_lock")
    keys = [key() for _ in range(20)]

    async def slow() -> int:
        await asyncio.sleep(30)
        return 1

    async def leave_in_flight() -> None:
        for k in keys:
            asyncio.ensure_future(r.get_or_create(k, slow))
            asyncio.ensure_future(r.get(k))
        await asyncio.sleep(0.2)  # the creators are running; asyncio.run cancels them at exit

    asyncio.run(leave_in_flight())

    async def after() -> List[Any]:
        return await asyncio.wait_for(asyncio.gather(*[r.get_or_create(k, lambda: "fresh") for k in keys]), 10)

    assert asyncio.run(after()) == ["fresh"] * 20


@pytest.mark.asyncio
async def test_background_regeneration_returns_the_expired_value_at_once() -> None:
    r = region("redis_lock", expiration_time=0.2, background_regeneration=True)
    k = key()
    assert await r.get_or_create(k, lambda: "first") == "first"
    await asyncio.sleep(0.3)

    release = asyncio.Event()

    async def held() -> str:
        await release.wait()
        return "second"

    # The creator waits for this caller: a caller that waited for the creator would time out.
    assert await asyncio.wait_for(r.get_or_create(k, held), 5) == "first"
    assert await r.key_is_locked(k)
    release.set()
    for _ in range(100):
        if await r.get(k, ignore_expiration=True) == "second":
            break
        await asyncio.sleep(0.02)
    assert await r.get(k, ignore_expiration=True) == "second"
