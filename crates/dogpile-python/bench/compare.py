"""Side by side, in one run: a dogpile.cache region over dogpile_rs's hstore backend and one
over dogpile_backend_redis_advanced 0.5.0's (redis-py), both on one private redis-server.

    target/python/wheel/bin/python crates/dogpile-python/bench/compare.py [--seconds 2] [--rounds 3]

Build the extension in release mode first (``maturin develop --release``). Prints ops/s per
workload for each backend (the median of alternating rounds) and their ratio.

A third region runs each region workload over a backend that keeps the bytes in a dict and does
no I/O at all: the rate of dogpile's own per-value work (metadata JSON, pickle, CachedValue),
which is the same over any backend. Its ratio to the plugin is the ceiling that no backend can
pass on that workload, printed beside the measured ratio.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from dogpile.cache import make_region, register_backend
from dogpile.cache.api import NO_VALUE, BytesBackend

import dogpile_backend_redis_advanced  # noqa: F401 (registers the plugin's backends)
import dogpile_rs  # noqa: F401 (registers dogpile_rs's backends)

PLAIN = [f"plain:{i:03}" for i in range(50)]
HASHED = [(f"hash:{i % 5}", f"field:{i:03}") for i in range(50)]
MIXED = [k for pair in zip(PLAIN, HASHED) for k in pair]


class NoIOBackend(BytesBackend):
    """Bytes in a dict: a region over it costs only dogpile's own per-value work."""

    def __init__(self, arguments):
        self._values = {}

    def get_serialized(self, key):
        return self._values.get(key, NO_VALUE)

    def get_serialized_multi(self, keys):
        values = self._values
        return [values.get(key, NO_VALUE) for key in keys]

    def set_serialized(self, key, value):
        self._values[key] = value

    def set_serialized_multi(self, mapping):
        self._values.update(mapping)

    def delete(self, key):
        self._values.pop(key, None)

    def delete_multi(self, keys):
        for key in keys:
            self._values.pop(key, None)


register_backend("bench.no_io", __name__, "NoIOBackend")


def start_redis():
    binary = os.environ.get("DOGPILE_REDIS_SERVER_BIN") or shutil.which("redis-server")
    if not binary:
        sys.exit("redis-server is needed: `apt-get install redis-server`, or DOGPILE_REDIS_SERVER_BIN")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="dogpile-rs-bench-")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server, port
        except OSError:
            time.sleep(0.01)
    server.kill()
    sys.exit("redis-server did not start")


def regions(url):
    arguments = {"url": url, "redis_expiration_time": 3600, "redis_expiration_time_hash": True}
    return {
        "dogpile_rs": make_region().configure("dogpile_rs.redis_advanced_hstore", arguments=dict(arguments)),
        "plugin 0.5.0": make_region().configure("dogpile_backend_redis_advanced.hstore", arguments=dict(arguments)),
        "no I/O": make_region().configure("bench.no_io", arguments={}),
    }


REGION_ONLY = ("region.",)


def workloads(region):
    values = {key: {"id": i, "name": f"row {i}", "tags": ["a", "b"]} for i, key in enumerate(MIXED)}
    region.set_multi(values)
    region.set("hit", {"id": 1, "name": "row"})
    backend = region.backend
    stored = dict(zip(MIXED, backend.get_serialized_multi(MIXED)))
    return {
        "region.get hit": lambda: region.get("hit"),
        "region.get_multi, 100 mixed keys": lambda: region.get_multi(MIXED),
        "region.set_multi, 100 mixed keys, hash TTL": lambda: region.set_multi(values),
        # The backend's own part, without the region's per-value (de)serialization in Python,
        # which is the same work over either backend.
        "backend.get_serialized_multi, 100 mixed keys": lambda: backend.get_serialized_multi(MIXED),
        "backend.set_serialized_multi, 100 mixed keys, hash TTL": lambda: backend.set_serialized_multi(stored),
    }


def rate(call, seconds):
    calls, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(20):
            call()
        calls += 20
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per workload, backend and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server, port = start_redis()
    try:
        loads = {name: workloads(region) for name, region in regions(f"redis://127.0.0.1:{port}/0").items()}
        names = list(loads)
        results = {name: {w: [] for w in loads[name]} for name in names}
        for round_ in range(args.rounds):
            order = names if round_ % 2 == 0 else names[::-1]
            for workload in loads[names[0]]:
                for name in order:
                    if name == "no I/O" and not workload.startswith(REGION_ONLY):
                        continue
                    results[name][workload].append(rate(loads[name][workload], args.seconds))
        ours_name, theirs_name, floor_name = names
        print(f"| workload | {ours_name} ops/s | {theirs_name} ops/s | ratio | ceiling ({floor_name}) |")
        print("|---|---:|---:|---:|---:|")
        for workload in loads[ours_name]:
            ours, theirs = (statistics.median(results[n][workload]) for n in (ours_name, theirs_name))
            floor = results[floor_name][workload]
            ceiling = f"{statistics.median(floor) / theirs:.2f}x" if floor else "-"
            print(f"| {workload} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}x | {ceiling} |")
        print(
            f"\nPython {sys.version.split()[0]}, median of {args.rounds} alternating rounds of "
            f"{args.seconds:g} s, one thread, one private redis-server"
        )
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
