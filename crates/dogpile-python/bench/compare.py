"""Side by side, in one run: dogpile.cache regions over dogpile_rs's hstore backend (without
and with its L1) and over dogpile_backend_redis_advanced 0.5.0's (redis-py), all on one private
redis-server.

    target/python/wheel/bin/python crates/dogpile-python/bench/compare.py [--seconds 2] [--rounds 3] [--only NAME]

Build the extension in release mode first (``maturin develop --release``). Prints ops/s per
workload for each backend (the median of alternating rounds) and the ratios to the plugin.

A region with ``coalesce_reads`` (and ``io="runtime"``, so that the threads' calls share one
connection) runs the threaded workloads only: the reads that Python threads issue together go
to Redis as one multi-key read.

A last region runs each region workload over a bytes backend that keeps the bytes in a dict
and does no I/O at all: the rate of dogpile's own per-value work on the bytes path (metadata
JSON, pickle, CachedValue), the ceiling of any bytes backend. dogpile_rs's backends take
CachedValues and do that work in Rust, so they are not bound by it.
"""

import argparse
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from dogpile.cache import make_region, register_backend
from dogpile.cache.api import NO_VALUE, BytesBackend

import dogpile_backend_redis_advanced  # noqa: F401 (registers the plugin's backends)
import dogpile_rs  # registers dogpile_rs's backends
import redis

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
    l1 = dict(arguments, l1={"capacity": 10000})
    coalesced = dict(arguments, coalesce_reads=True, io="runtime")
    return {
        "dogpile_rs": make_region().configure("dogpile_rs.redis_advanced_hstore", arguments=dict(arguments)),
        "dogpile_rs + L1": make_region().configure("dogpile_rs.redis_advanced_hstore", arguments=l1),
        COALESCED: make_region().configure("dogpile_rs.redis_advanced_hstore", arguments=coalesced),
        "plugin 0.5.0": make_region().configure("dogpile_backend_redis_advanced.hstore", arguments=dict(arguments)),
        "no I/O": make_region().configure("bench.no_io", arguments={}),
    }


REGION_ONLY = ("region.",)
THREADS = 16
THREADED = f"region.get_multi of 10 hot keys, {THREADS} threads"
THREADED_HITS = f"region.get_or_create hits on 100 keys in turn, {THREADS} threads"
COALESCED = "dogpile_rs, reads coalesced"


def workloads(region):
    values = {key: {"id": i, "name": f"row {i}", "tags": ["a", "b"]} for i, key in enumerate(MIXED)}
    region.set_multi(values)
    region.set("hit", {"id": 1, "name": "row"})
    backend = region.backend
    stored = dict(zip(MIXED, backend.get_serialized_multi(MIXED)))
    plain = {f"p:{i:03}": v for i, v in enumerate(values.values())}
    region.set_multi(plain)
    in_turn, turns = list(plain), itertools.count()
    return {
        "region.get hit": lambda: region.get("hit"),
        THREADED: lambda: region.get_multi(list(plain)[:10]),
        THREADED_HITS: lambda: region.get_or_create(in_turn[next(turns) % len(in_turn)], dict),
        "region.get_or_create hit": lambda: region.get_or_create("hit", dict),
        "region.get_multi, 100 plain keys": lambda: region.get_multi(list(plain)),
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


def threaded_rate(call, seconds, threads=THREADS):
    """The calls per second of `threads` threads calling `call` together."""
    rates = []
    barrier = threading.Barrier(threads)

    def run():
        barrier.wait()
        rates.append(rate(call, seconds))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per workload, backend and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="run only the workloads whose name contains this")
    args = parser.parse_args()
    server, port = start_redis()
    try:
        loads = {name: workloads(region) for name, region in regions(f"redis://127.0.0.1:{port}/0").items()}
        names = list(loads)
        results = {name: {w: [] for w in loads[name]} for name in names}
        for round_ in range(args.rounds):
            order = names if round_ % 2 == 0 else names[::-1]
            for workload in loads[names[0]]:
                if args.only not in workload:
                    continue
                for name in order:
                    if name == "no I/O" and not workload.startswith(REGION_ONLY):
                        continue
                    if name == COALESCED and workload not in (THREADED, THREADED_HITS):
                        continue
                    measure = threaded_rate if workload in (THREADED, THREADED_HITS) else rate
                    results[name][workload].append(measure(loads[name][workload], args.seconds))
        *ours_names, theirs_name, floor_name = names
        head = " | ".join(f"{n} ops/s" for n in [*ours_names, theirs_name])
        ratios = " | ".join(f"{n} ratio (spread)" for n in ours_names)
        print(f"| workload | {head} | {ratios} | bytes-path ceiling ({floor_name}) |")
        print("|---|" + "---:|" * (len(ours_names) * 2 + 2))
        for workload in loads[theirs_name]:
            if args.only not in workload:
                continue
            theirs = statistics.median(results[theirs_name][workload])
            rates = [statistics.median(results[n][workload]) if results[n][workload] else None for n in ours_names]
            shown = [f"{r:,.0f}" if r is not None else "-" for r in [*rates, theirs]]
            spreads = [
                spread(results[n][workload], results[theirs_name][workload]) if results[n][workload] else "-"
                for n in ours_names
            ]
            floor = results[floor_name][workload]
            ceiling = f"{statistics.median(floor) / theirs:.2f}x" if floor else "-"
            print(f"| {workload} | {' | '.join(shown)} | {' | '.join(spreads)} | {ceiling} |")
        calibration(port, args.seconds)
        print(
            f"\nPython {sys.version.split()[0]}, median of {args.rounds} alternating rounds of "
            f"{args.seconds:g} s, one thread unless said, one private redis-server; "
            "spread: the lowest and highest ratio of one round's rates"
        )
    finally:
        server.kill()
        server.wait()


def per_call_us(call, seconds):
    """Wall-clock and CPU microseconds per call (the calling thread's CPU time, user and
    system: what a call costs this process, apart from the waits a busy machine adds)."""
    cpu = time.thread_time()
    wall = 1e6 / rate(call, seconds)
    calls = seconds * 1e6 / wall
    return wall, (time.thread_time() - cpu) * 1e6 / calls


def calibration(port, seconds):
    """What a call costs beyond the I/O, through each of dogpile_rs's two I/O paths, beside a
    round trip from Python over a raw socket and through redis-py."""
    url = f"redis://127.0.0.1:{port}/0"
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    get = b"*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n"

    def raw_get():
        raw.sendall(get)
        raw.recv(64)

    client = redis.Redis.from_url(url)
    rows = [("GET over a raw socket", per_call_us(raw_get, seconds))]
    rows.append(("redis-py GET", per_call_us(lambda: client.get("missing"), seconds)))
    for io in ("calling_thread", "runtime"):
        backend = dogpile_rs._dogpile_rs.Backend("dogpile_rs.redis_advanced", {"url": url, "io": io})
        rows.append((f"dogpile_rs call, no I/O (io={io})", per_call_us(backend._call, seconds)))
        rows.append((f"dogpile_rs GET (io={io})", per_call_us(lambda b=backend: b.get("missing"), seconds)))
    raw.close()
    client.close()
    print("\n| one call from Python | µs | CPU µs |\n|---|---:|---:|")
    for name, (us, cpu) in rows:
        print(f"| {name} | {us:.1f} | {cpu:.1f} |")


def spread(ours, theirs):
    ratios = [o / t for o, t in zip(ours, theirs)]
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


if __name__ == "__main__":
    main()
