"""Compressed entries (the ``compression`` arguments): written compressed above the threshold
on the native and the bytes path, read by a backend that does not compress (and one that does
reads the entries written before it did), and bytes that do not decompress are ``NO_VALUE``."""

import os
import uuid

import pytest
import redis
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

import dogpile_rs  # noqa: F401 (registers the backends)

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]
HEADERS = {"zstd": b"\xffDZ\x01", "lz4": b"\xffDZ\x02"}
DOCUMENT = {"users": [{"id": i, "name": f"user {i}", "active": i % 3 == 0} for i in range(300)]}


def region(**arguments: object):
    return make_region().configure("dogpile_rs.redis_advanced", arguments={"url": URL, **arguments})


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
@pytest.mark.parametrize("serializer", [None, "json"])
def test_large_values_are_stored_compressed_and_read_by_any_backend(compression: str, serializer: object) -> None:
    extra = {} if serializer is None else {"serializer": serializer}
    ours = region(compression=compression, **extra)
    plain = region(**extra)
    raw = redis.Redis.from_url(URL)
    big, small = f"big:{uuid.uuid4().hex}", f"small:{uuid.uuid4().hex}"
    ours.set(big, DOCUMENT)
    ours.set(small, {"a": 1})
    uncompressed = f"uncompressed:{uuid.uuid4().hex}"
    plain.set(uncompressed, DOCUMENT)
    stored, as_is = raw.get(big) or b"", raw.get(uncompressed) or b""
    assert stored.startswith(HEADERS[compression]), stored[:8]
    assert len(stored) * 2 < len(as_is), (len(stored), len(as_is))
    assert not (raw.get(small) or b"").startswith(b"\xffDZ")
    assert ours.get(big) == DOCUMENT and plain.get(big) == DOCUMENT
    # Entries written uncompressed read as before once compression is on.
    plain.set(small, {"b": 2})
    assert ours.get(small) == {"b": 2}
    raw.close()


def test_the_bytes_path_is_compressed_too_and_garbage_is_no_value() -> None:
    dumps = lambda value: repr(value).encode()  # noqa: E731
    loads = lambda data: eval(data.decode())  # noqa: E731, S307
    ours = make_region(serializer=dumps, deserializer=loads).configure(
        "dogpile_rs.redis_advanced", arguments={"url": URL, "compression": "zstd", "compress_above": 100}
    )
    raw = redis.Redis.from_url(URL)
    key = f"bytes:{uuid.uuid4().hex}"
    ours.set(key, DOCUMENT)
    assert (raw.get(key) or b"").startswith(HEADERS["zstd"])
    assert ours.get(key) == DOCUMENT
    raw.set(key, HEADERS["zstd"] + (10**9).to_bytes(4, "little") + b"\x00" * 20)
    assert ours.get(key) is NO_VALUE
    raw.close()


def test_an_unknown_compression_is_refused_by_name() -> None:
    with pytest.raises(Exception, match="compression"):
        region(compression="gzip").get("anything")
