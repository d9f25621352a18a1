"""AsyncRegion against plain redis.asyncio (GET + pickle.loads) and, when it is installed,
cashews, on one private redis-server, in one run.

Rows: 100 concurrent coroutines reading 1,000 keys (reads per second and the p99 of one read),
one coroutine reading them (the latency of one call), and the stampede: 1,000 coroutines on 10
expired keys, whose creator sleeps 20 ms (creator runs and the p99 of one call)."""

import argparse
import asyncio
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import redis.asyncio as aioredis

import dogpile_rs

sys.path.insert(0, str(Path(__file__).parent))
from compare import spread, start_redis  # noqa: E402

KEYS = [f"user:{i}" for i in range(1000)]
VALUE = {"id": 1, "name": "user-1", "score": 1.5}

Read = Callable[[str], Awaitable[Any]]


async def reads(read: Read, tasks: int, seconds: float) -> Tuple[float, float]:
    """Reads per second of `tasks` coroutines reading in turn, and the p99 of one read (µs)."""
    latencies: List[float] = []
    deadline = time.perf_counter() + seconds

    async def reader(offset: int) -> int:
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await read(KEYS[(offset + n) % len(KEYS)])
            latencies.append(time.perf_counter() - started)
            n += 1
        return n

    started = time.perf_counter()
    done = sum(await asyncio.gather(*[reader(i * 10) for i in range(tasks)]))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return done / elapsed, latencies[int(len(latencies) * 0.99)] * 1e6


async def stampede(get_or_create: Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]) -> Tuple[int, float]:
    """Creator runs and the p99 of one call (µs) for 1,000 coroutines on 10 fresh keys."""
    runs = 0
    prefix = f"stampede:{time.monotonic_ns()}:"

    async def create() -> Dict[str, int]:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.02)
        return {"made": 1}

    async def one(key: str) -> float:
        started = time.perf_counter()
        await get_or_create(prefix + key, create)
        return time.perf_counter() - started

    took = sorted(await asyncio.gather(*[one(f"k{i % 10}") for i in range(1000)]))
    return runs, took[int(len(took) * 0.99)] * 1e6


async def contenders(url: str) -> Dict[str, Tuple[Read, Any]]:
    region = dogpile_rs.make_async_region().configure(
        "dogpile_rs.redis_advanced", expiration_time=3600, arguments={"url": url, "distributed_lock": True}
    )
    await region.set_multi({k: VALUE for k in KEYS})
    client = aioredis.Redis.from_url(url)
    await client.mset({f"twin:{k}": pickle.dumps(VALUE) for k in KEYS})

    async def twin_read(key: str) -> Any:
        return pickle.loads(await client.get(f"twin:{key}"))

    found: Dict[str, Tuple[Read, Any]] = {
        "dogpile_rs AsyncRegion": (region.get, lambda k, c: region.get_or_create(k, c)),
        "redis.asyncio GET + pickle": (twin_read, None),
    }
    try:
        from cashews import Cache  # type: ignore[import-not-found]
    except ImportError:
        print("(cashews is not installed: pip install cashews, for its rows)")
        return found
    cache = Cache()
    cache.setup(url)
    for k in KEYS:
        await cache.set(f"cashews:{k}", VALUE, expire=3600)

    async def cashews_read(key: str) -> Any:
        return await cache.get(f"cashews:{key}")

    async def cashews_get_or_create(key: str, create: Callable[[], Awaitable[Any]]) -> Any:
        # cashews' own pattern for one creator: read, and on a miss take its lock and read again.
        value = await cache.get(key)
        if value is not None:
            return value
        async with cache.lock(f"lock:{key}", expire=10, wait=True):
            value = await cache.get(key)
            if value is None:
                value = await create()
                await cache.set(key, value, expire=3600)
            return value

    found["cashews"] = (cashews_read, cashews_get_or_create)
    return found


async def main(seconds: float, rounds: int, port: int) -> None:
    found = await contenders(f"redis://127.0.0.1:{port}/0")
    rows: Dict[Tuple[str, str], List[Tuple[float, float]]] = {}
    for round_ in range(rounds):
        names = list(found) if round_ % 2 == 0 else list(found)[::-1]
        for tasks in (100, 1):
            for name in names:
                rows.setdefault((f"{tasks} coroutine(s) reading 1,000 keys", name), []).append(
                    await reads(found[name][0], tasks, seconds)
                )
    print("| workload | contender | reads/s | p99 µs |\n|---|---|---:|---:|")
    for (workload, name), results in rows.items():
        rate = statistics.median(r for r, _ in results)
        p99 = statistics.median(p for _, p in results)
        print(f"| {workload} | {name} | {rate:,.0f} | {p99:,.0f} |")
    ours = next(iter(found))
    print(f"\n| workload | {ours} to | ratio (spread over rounds) |\n|---|---|---:|")
    for (workload, name), results in rows.items():
        if name != ours:
            mine = [r for r, _ in rows[(workload, ours)]]
            print(f"| {workload} | {name} | {spread(mine, [r for r, _ in results])} |")
    print("\n| stampede: 1,000 coroutines, 10 keys | creator runs | p99 µs |\n|---|---:|---:|")
    for name, (_, get_or_create) in found.items():
        if get_or_create is not None:
            runs, p99 = await stampede(get_or_create)
            print(f"| {name} | {runs} | {p99:,.0f} |")
    print(f"\nPython {sys.version.split()[0]}, median of {rounds} alternating rounds of {seconds:g} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    server, port = start_redis()
    try:
        asyncio.run(main(arguments.seconds, arguments.rounds, port))
    finally:
        server.kill()
        server.wait()
