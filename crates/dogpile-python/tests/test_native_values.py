"""Native values: the backends take and return ``CachedValue`` objects and write exactly the
bytes dogpile.cache 1.x writes (``json(metadata)|payload``), so that dogpile.cache 1.5.0
regions on the plugin 0.5.0 and on its own redis-py backend read what they write, and the
reverse. A region with its own serializer keeps the bytes path."""

import json
import math
import os
import pickle
import random
import uuid

import msgpack
import pytest
import redis
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE
from dogpile.cache.api import CachedValue
from dogpile.cache.region import value_version

import dogpile_backend_redis_advanced  # noqa: F401 (registers the plugin's backends)
import dogpile_rs

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]
VALUES = [
    {"id": 1, "name": "user-1", "score": 1.5},
    ["a", 2, 3.25, None, True],
    "text with ünïcode",
    b"\x00bytes\xff",
    12345678901234567890,
    -0.0,
    (1, (2, 3)),
    {"nested": {"set": {1, 2}, "list": [[]]}},
]


@pytest.fixture
def raw():
    client = redis.Redis.from_url(URL)
    yield client
    client.close()


def key():
    return f"native:{uuid.uuid4().hex}"


def ours(name="dogpile_rs.redis_advanced_hstore", **arguments):
    return make_region().configure(name, arguments={"url": URL, **arguments})


def dogpile_bytes(payload, metadata, dumps=pickle.dumps):
    """The entry dogpile.cache 1.x's region makes of a value (region._serialized_cached_value)."""
    return b"%b|%b" % (json.dumps(metadata).encode("ascii"), dumps(payload))


def test_a_region_without_a_serializer_takes_the_native_path():
    region = ours()
    assert region.serializer is None and region.deserializer is None
    assert isinstance(region.backend, dogpile_rs.RedisAdvancedHstoreBackend)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_bytes_are_the_ones_dogpile_writes(raw, value):
    backend = ours().backend
    metadata = {"ct": 1765069200.123456, "v": value_version}
    k = key()
    backend.set(k, CachedValue(value, metadata))
    assert raw.get(k) == dogpile_bytes(value, metadata)
    got = backend.get(k)
    assert isinstance(got, CachedValue)
    assert got.payload == value and got.metadata == metadata
    assert type(got.metadata["ct"]) is float and type(got.metadata["v"]) is int


def test_metadata_times_are_formatted_as_json_dumps_formats_them(raw):
    backend = ours().backend
    rng = random.Random(7)
    times = [0.0, -0.0, 1.0, 1e-4, 9.999e-5, 1e15, 1e16, 1.5e16, 123456789.0, 2.5e-7, 1e300]
    times += [rng.uniform(0, 4e9) for _ in range(300)]
    times += [rng.uniform(0, 1) * 10 ** rng.randint(-8, 20) for _ in range(300)]
    times += [float(rng.randint(0, 2**53)) for _ in range(50)]
    mapping = {}
    for ct in times:
        mapping[key()] = CachedValue(ct, {"ct": ct, "v": value_version})
    backend.set_multi(mapping)
    for k, value in mapping.items():
        assert raw.get(k) == dogpile_bytes(value.payload, value.metadata), value.metadata
        got = backend.get(k)
        assert got.metadata["ct"] == value.metadata["ct"] or math.isnan(got.metadata["ct"])
        assert math.copysign(1, got.metadata["ct"]) == math.copysign(1, value.metadata["ct"])


def test_other_metadata_goes_through_pythons_json(raw):
    backend = ours().backend
    odd = [
        {"ct": 1765069200.5, "v": 2, "d": 0.25},
        {"v": 2, "ct": 1765069200.5},
        {"ct": 1765069200, "v": 2},
        {"ct": float("inf"), "v": 2},
        {"ct": 1.0, "v": 2**70},
        {"ct": 1.0, "v": "two", "é": "ü"},
    ]
    for metadata in odd:
        k = key()
        backend.set(k, CachedValue("payload", metadata))
        assert raw.get(k) == dogpile_bytes("payload", metadata)
        assert backend.get(k) == CachedValue("payload", metadata)


def test_set_multi_with_one_shared_metadata_writes_it_in_every_entry(raw):
    region = ours()
    keys = [key() for _ in range(20)] + [(f"h:{uuid.uuid4().hex}", f"f{i}") for i in range(5)]
    region.set_multi({k: {"n": i} for i, k in enumerate(keys)})
    plain = [k for k in keys if isinstance(k, str)]
    metas = {raw.get(k).partition(b"|")[0] for k in plain}
    assert len(metas) == 1, metas
    assert region.get_multi(keys) == [{"n": i} for i in range(len(keys))]


@pytest.mark.parametrize(
    "bytes_",
    [
        b"no bar at all",
        b"not json|" + pickle.dumps(1),
        b"[1, 2]|" + pickle.dumps(1),
        b'{"ct": 1.0, "v": 2}|not a pickle',
        b'{"ct": 1.0, "v": 2}|',
        b"",
    ],
)
def test_what_does_not_decode_is_no_value(raw, bytes_):
    backend = ours().backend
    k = key()
    raw.set(k, bytes_)
    assert backend.get(k) is NO_VALUE
    assert backend.get_multi([k, k]) == [NO_VALUE, NO_VALUE]
    assert ours().get_or_create(k, lambda: "regenerated") == "regenerated"


@pytest.mark.parametrize(
    "writer,reader",
    [
        ("dogpile_rs.redis_advanced_hstore", "dogpile_backend_redis_advanced.hstore"),
        ("dogpile_backend_redis_advanced.hstore", "dogpile_rs.redis_advanced_hstore"),
        ("dogpile_rs.redis_advanced", "dogpile.cache.redis"),
        ("dogpile.cache.redis", "dogpile_rs.redis_advanced"),
    ],
)
def test_the_plugin_and_redis_py_read_what_these_write_and_the_reverse(writer, reader):
    arguments = {"url": URL, "redis_expiration_time": 600}
    written = make_region().configure(writer, arguments=dict(arguments))
    read = make_region().configure(reader, arguments=dict(arguments))
    keys = [key() for _ in VALUES]
    if "hstore" in writer:
        keys += [(f"h:{uuid.uuid4().hex}", "field")]
    values = dict(zip(keys, VALUES + VALUES[:1]))
    written.set_multi(values)
    one = key()
    written.set(one, VALUES[0])
    assert read.get_multi(keys) == [values[k] for k in keys]
    assert read.get(one) == VALUES[0]
    created = []
    assert read.get_or_create(one, lambda: created.append(1)) == VALUES[0] and not created


@pytest.mark.parametrize(
    "name,dumps,loads",
    [
        ("json", lambda v: json.dumps(v).encode(), json.loads),
        ("msgpack", msgpack.packb, msgpack.unpackb),
    ],
)
def test_the_serializer_argument_writes_json_or_msgpack_payloads(raw, name, dumps, loads):
    region = ours(serializer=name)
    value = {"id": 7, "tags": ["a", "b"], "score": 0.5}
    k = key()
    region.set(k, value)
    metadata, _, payload = raw.get(k).partition(b"|")
    assert payload == dumps(value) and loads(payload) == value
    assert json.loads(metadata)["v"] == value_version
    assert region.get(k) == value
    # A region of dogpile.cache's own Redis backend with that serializer reads it.
    theirs = make_region(serializer=dumps, deserializer=loads).configure("dogpile.cache.redis", arguments={"url": URL})
    assert theirs.get(k) == value


def test_an_unknown_serializer_is_refused():
    with pytest.raises(ValueError, match="unknown serializer"):
        ours(serializer="yaml")


def test_a_region_with_its_own_serializer_takes_the_bytes_path(raw):
    region = make_region(serializer=lambda v: json.dumps(v).encode(), deserializer=json.loads).configure(
        "dogpile_rs.redis_advanced", arguments={"url": URL}
    )
    k = key()
    region.set(k, {"a": 1})
    assert raw.get(k).partition(b"|")[2] == b'{"a": 1}'
    assert region.get(k) == {"a": 1}
