"""One side of the stampede across processes (``tests/python_regions.rs``): at each round's
wall-clock time, many callers of a ``dogpile_rs`` region (coroutines of an ``AsyncRegion``, or
threads of a ``Region``) ask for the round's key at once; a creator run counts itself in
Redis (``INCR runs:<round>``), takes 200 ms and returns who made the value. Prints each
round's values as JSON lines: ``{"round": r, "values": [...]}``.

Usage: region_stampede.py async|sync URL START ROUNDS PERIOD EXPIRATION CALLERS"""

import asyncio
import json
import sys
import threading
import time
from typing import Any, List

import redis

import dogpile_rs

mode, url = sys.argv[1], sys.argv[2]
start, rounds, period, expiration, callers = (
    float(sys.argv[3]),
    int(sys.argv[4]),
    float(sys.argv[5]),
    float(sys.argv[6]),
    int(sys.argv[7]),
)
arguments = {"url": url, "distributed_lock": True, "lock_sleep": 0.01}
counter = redis.Redis.from_url(url)


def key(round_: int) -> str:
    return f"stampede:{round_ % 2}"


def until(moment: float) -> float:
    return max(0.0, moment - time.time())


def report(round_: int, values: List[Any]) -> None:
    print(json.dumps({"round": round_, "values": values}), flush=True)


async def run_async() -> None:
    region = dogpile_rs.make_async_region().configure(
        "dogpile_rs.redis_advanced", expiration_time=expiration, arguments=arguments
    )
    for round_ in range(rounds):

        async def create(r: int = round_) -> str:
            counter.incr(f"runs:{r}")
            await asyncio.sleep(0.2)
            return f"async python, round {r}"

        await asyncio.sleep(until(start + round_ * period))
        values = await asyncio.gather(*[region.get_or_create(key(round_), create) for _ in range(callers)])
        report(round_, list(values))


def run_sync() -> None:
    region = dogpile_rs.make_region().configure("dogpile_rs.redis_advanced", expiration_time=expiration, arguments=arguments)
    for round_ in range(rounds):

        def create(r: int = round_) -> str:
            counter.incr(f"runs:{r}")
            time.sleep(0.2)
            return f"sync python, round {r}"

        values: List[Any] = [None] * callers

        def caller(i: int) -> None:
            values[i] = region.get_or_create(key(round_), create)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
        time.sleep(until(start + round_ * period))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report(round_, values)


if mode == "async":
    asyncio.run(run_async())
else:
    run_sync()
