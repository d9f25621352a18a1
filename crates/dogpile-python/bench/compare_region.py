"""dogpile_rs.Region against dogpile.cache's region on the dogpile_rs backend and on
dogpile_backend_redis_advanced 0.5.0, on one private redis-server, in one run.

Rows: a get_or_create hit (one thread, and 16 threads), and a 100-key get_or_create_multi with
every key a hit and with 10 keys missing per call (their creator call included). dogpile.cache
takes one ``Lock`` per key in Python for get_or_create_multi; dogpile_rs.Region takes the locks
in Rust."""

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

from dogpile.cache import make_region

import dogpile_rs

sys.path.insert(0, str(Path(__file__).parent))
from compare import rate, spread, start_redis, threaded_rate  # noqa: E402

KEYS = [f"user:{i}" for i in range(100)]
VALUE = {"id": 1, "name": "row 1", "tags": ["a", "b"]}


def contenders(url: str) -> Dict[str, Any]:
    arguments = {"url": url, "distributed_lock": True}
    return {
        "dogpile_rs.Region": dogpile_rs.make_region().configure(
            "dogpile_rs.redis_advanced", expiration_time=3600, arguments=arguments
        ),
        "dogpile.cache + dogpile_rs backend": make_region().configure(
            "dogpile_rs.redis_advanced", expiration_time=3600, arguments=dict(arguments)
        ),
        "dogpile.cache + plugin 0.5.0": make_region().configure(
            "dogpile_backend_redis_advanced", expiration_time=3600, arguments=dict(arguments, thread_local_lock=False)
        ),
    }


def workloads(region: Any) -> Dict[str, Callable[[], Any]]:
    region.set_multi({k: VALUE for k in KEYS})
    region.set("hit", VALUE)
    missing = iter(range(10**9))

    def make(*keys: str) -> List[Any]:
        return [VALUE for _ in keys]

    def with_misses() -> Any:
        n = next(missing)
        region.delete_multi(KEYS[n % 10 * 10 : n % 10 * 10 + 10])
        return region.get_or_create_multi(KEYS, make)

    return {
        "get_or_create hit": lambda: region.get_or_create("hit", dict),
        "get_or_create hit, 16 threads": lambda: region.get_or_create("hit", dict),
        "get_or_create_multi, 100 hits": lambda: region.get_or_create_multi(KEYS, make),
        "get_or_create_multi, 100 keys, 10 missing": with_misses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server, port = start_redis()
    try:
        loads = {name: workloads(region) for name, region in contenders(f"redis://127.0.0.1:{port}/0").items()}
        names = list(loads)
        results: Dict[str, Dict[str, List[float]]] = {n: {w: [] for w in loads[n]} for n in names}
        for round_ in range(args.rounds):
            for workload in loads[names[0]]:
                for name in names if round_ % 2 == 0 else names[::-1]:
                    measure = threaded_rate if "threads" in workload else rate
                    results[name][workload].append(measure(loads[name][workload], args.seconds))
        ours, middle, theirs = names
        print(f"| workload | {ours} | {middle} | {theirs} | vs plugin (spread) | vs dogpile.cache on dogpile_rs |")
        print("|---|---:|---:|---:|---:|---:|")
        for workload in loads[ours]:
            rates = [statistics.median(results[n][workload]) for n in names]
            print(
                f"| {workload} | {' | '.join(f'{r:,.0f}' for r in rates)} | "
                f"{spread(results[ours][workload], results[theirs][workload])} | "
                f"{spread(results[ours][workload], results[middle][workload])} |"
            )
        print(f"\ncalls/s; Python {sys.version.split()[0]}, median of {args.rounds} alternating rounds of {args.seconds:g} s")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
