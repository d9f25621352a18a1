"""The native JSON and msgpack payloads, against Python's ``json`` and the ``msgpack``
package: for thousands of generated values (every integer width, floats of every kind,
strings with every class of character, nested containers, dictionary keys of each type,
subclasses, values that cannot be written), the backend writes the bytes Python writes, or
fails as Python fails; it reads what Python reads from them, and ``NO_VALUE`` from the bytes
Python refuses, among them thousands of mutated payloads."""

import collections
import enum
import json
import os
import pickle
import random
import uuid
from typing import Any, Callable, List

import msgpack
import pytest
import redis
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

import dogpile_rs  # noqa: F401 (registers the backends)

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]
METADATA = b'{"ct": 1733500000.25, "v": 2}'


class Colour(enum.IntEnum):
    RED = 1


class Text(str):
    pass


def scalar(rng: random.Random) -> Any:
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        edge = rng.choice([0, 7, 8, 15, 16, 31, 32, 63, 64, 65, 100])
        return rng.choice([1, -1]) * (2**edge + rng.randint(-2, 2))
    if kind == 2:
        return rng.randint(-300, 300)
    if kind == 3:
        return rng.choice([0.0, -0.0, 1e16, 1e15, 1e-4, 1e-5, 0.1, 1.5, 123456789.125, 5e-324, 1.7976931348623157e308])
    if kind == 4:
        return rng.choice([float("nan"), float("inf"), float("-inf"), rng.uniform(-1e6, 1e6)])
    if kind == 5:
        bits = rng.getrandbits(64)
        return __import__("struct").unpack("<d", bits.to_bytes(8, "little"))[0]
    if kind == 6:
        return "".join(rng.choice(CHARS) for _ in range(rng.choice([0, 1, 5, 31, 32, 40, 255, 256, 300])))
    if kind == 7:
        return bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 3, 255, 256])))
    return rng.choice([Colour.RED, Text("sub"), bytearray(b"ba"), {1, 2}, "lone \ud800 surrogate"])


CHARS = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\r', '\t', '\b', '\f', '\x00', '\x1f', '\x7f', '~', 'é', 'ß', '€',
         '\u2028', '\uffff', '😀', '\U0010ffff']


def value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(6) if depth < 4 else 0
    if kind <= 2:
        return scalar(rng)
    counts = [0, 1, 3, 15, 16, 17] if depth < 2 else [0, 1, 2]
    items = [value(rng, depth + 1) for _ in range(rng.choice(counts))]
    if kind == 3:
        return items
    if kind == 4:
        return tuple(items)
    keys = [rng.choice([scalar(rng), "k%d" % rng.randrange(50)]) for _ in items]
    try:
        made = dict(zip(keys, items))
    except TypeError:
        return items
    return collections.OrderedDict(made) if rng.randrange(20) == 0 else made


def deep(levels: int) -> Any:
    made: Any = 1
    for _ in range(levels):
        made = [made]
    return made


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", call())
    except Exception:
        return ("error",)


FORMATS = {
    "json": (lambda v: json.dumps(v).encode(), json.loads),
    "msgpack": (msgpack.packb, msgpack.unpackb),
}


def generated(seed: int, count: int) -> List[Any]:
    rng = random.Random(seed)
    large = [list(range(65536)), "é" * 40000, {str(i): i for i in range(65536)}, b"b" * 65536]
    return [value(rng) for _ in range(count)] + [deep(300), deep(200), {"a": deep(250)}] + large


@pytest.fixture
def raw():
    client = redis.Redis.from_url(URL)
    yield client
    client.close()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_the_bytes_written_are_pythons_or_the_write_fails_as_pythons(raw, name):
    dumps, _ = FORMATS[name]
    region = make_region().configure("dogpile_rs.redis_advanced", arguments={"url": URL, "serializer": name})
    written = 0
    for n, v in enumerate(generated(31 + len(name), 1500)):
        k = f"formats:{uuid.uuid4().hex}"
        expected = outcome(lambda: dumps(v))
        ours = outcome(lambda: region.set(k, v))
        assert ours[0] == expected[0], f"value {n}: {v!r}: Python {expected[0]}, dogpile_rs {ours[0]}"
        if expected[0] == "ok":
            payload = raw.get(k).partition(b"|")[2]
            assert payload == expected[1], f"value {n}: {v!r}"
            written += 1
    assert written > 700


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_what_python_wrote_reads_as_python_reads_it(raw, name):
    dumps, loads = FORMATS[name]
    region = make_region().configure("dogpile_rs.redis_advanced", arguments={"url": URL, "serializer": name})
    payloads = [p for p in (outcome(lambda: dumps(v)) for v in generated(47 + len(name), 1500)) if p[0] == "ok"]
    payloads = [p[1] for p in payloads]
    rng = random.Random(5)
    for payload in list(payloads[:1500]):
        mutated = bytearray(payload)
        for _ in range(rng.randint(1, 3)):
            if mutated and rng.randrange(3):
                mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
            elif mutated:
                del mutated[rng.randrange(len(mutated)) :]
        payloads.append(bytes(mutated))
    keys = [f"formats:{uuid.uuid4().hex}" for _ in payloads]
    raw.mset({k: METADATA + b"|" + p for k, p in zip(keys, payloads)})
    refused = 0
    for k, p, got in zip(keys, payloads, region.get_multi(keys)):
        expected = outcome(lambda: loads(p))
        if expected[0] == "error":
            refused += 1
            assert got is NO_VALUE, f"{p!r}: Python refuses it, dogpile_rs read {got!r}"
        else:
            # repr tells apart what == does not: 1 and True, 0.0 and -0.0, lists and tuples.
            assert repr(got) == repr(expected[1]), f"{p!r}"
            assert got.__class__ is expected[1].__class__
    assert refused > 100


def test_metadata_is_read_natively_and_any_other_dictionary_through_json(raw):
    region = make_region().configure("dogpile_rs.redis_advanced", arguments={"url": URL})
    cases = {
        b'{"ct": 1733500000.25, "v": 2}': True,
        b'{"v": 2, "ct": 1e+16, "extra": [1, "\\u00e9"]}': True,
        b' {"ct":1.5,"v":2} ': True,
        b'{"ct": 1.5, "v": 2': False,
        b'[1.5, 2]': False,
        b'{"ct": NaN, "v": 2}': True,
    }
    for metadata, reads in cases.items():
        k = f"formats:{uuid.uuid4().hex}"
        raw.set(k, metadata + b"|" + pickle.dumps("value"))
        got = region.get(k)
        assert (got == "value") is reads, metadata
