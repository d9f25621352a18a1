"""Seeds of the `keys`, `url` and `config` corpora: keys, Redis URLs with and without
credentials, TOML and flat region configurations. Run by `scripts/fuzz seed` with any Python
3; each seed is written to corpus/<target>/<sha1 of its bytes>.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

KEYS = [
    b"",
    b"user:42",
    b"\x05short",
    b"\x0ba-rather-long-key-indeed",
    b"hash\x00field",
    b"\x00\x00",
    b"myapp:views.get_user|42 7",
    "ключ\x00поле".encode(),
    b"\xff\xfe invalid utf-8 \x00 field",
    b"\x28" + b"k" * 300,
]

URLS = [
    b"redis://127.0.0.1:6379/0",
    b"redis://user:hunter2@cache:6379/0",
    b"redis://:s3cretpass@127.0.0.1:1/0",
    b"rediss://default:p%40ss%2Fword@host.example:6380/2?ssl_cert_reqs=none",
    b"redis://user:pa:ss@host/0",
    b"redis://:s3cret/x#y@127.0.0.1:1/0",
    b"redis://host/0?password=tokenvalue&db=3",
    b"redis+unix:///tmp/redis.sock?db=1&pass=unixsecret",
    b"unix:///run/redis.sock",
    b"cache:6379",
    b"redis://[::1]:6379",
    b"redis://user@host:6379",
    b"redis://:@host",
    b"not a url @ all",
]

CONFIGS = [
    b'[cache]\nbackend = "memory"\nexpiration_time = 300\narguments = { capacity = 10000 }\n',
    b'[cache]\nbackend = "dogpile.cache.memory"\nexpiration_time = "5m"\n',
    b'[cache]\nbackend = "null"\n',
    b'[cache]\nbackend = "memory"\nexpiration_time = -1\narguments = { capacity = -5, serializer = "json" }\n',
    b'[cache]\nbackend = "memory"\narguments = { serializer = "pickle", envelope = "raw" }\n',
    b'[cache]\nbackend = 7\n',
    b"[cache\n",
    b"cache.backend=dogpile.cache.memory\ncache.expiration_time=60\ncache.arguments.capacity=5000\n",
    b"cache.backend=memory\ncache.expiration_time=1h 30m\n",
    b"cache.backend=memory\ncache.expiration_time=nan\n",
    b"cache.backend=unknown.backend\n",
    b"cache.arguments.capacity=10\n",
]


def write(out: Path, seeds: list[bytes]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for data in seeds:
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
    print(f"{len(seeds)} seeds in {out}")


def main() -> None:
    root = Path(sys.argv[1])
    write(root / "keys", KEYS)
    write(root / "url", URLS)
    write(root / "config", CONFIGS)


if __name__ == "__main__":
    main()
