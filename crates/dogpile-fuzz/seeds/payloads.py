"""Seeds of the `decode` corpus: stored bytes as the Python deployments write them.

Run by `scripts/fuzz seed` with the interpreter of target/python/dogpile-1 (dogpile.cache 1.5.0,
plugin 0.5.0, msgpack) and of target/python/dogpile-0.9 (dogpile.cache 0.9.2): dogpile 1.x's
`metadata|payload` through its region's own serializer, pickles of protocols 0 to 5, msgpack
raw and in the seed's `[payload, metadata]`, JSON, the plugin 0.5.0 raw format, and dogpile
0.9's pickled CachedValue. Each seed is written to <out>/<sha1 of its bytes>.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import msgpack
from dogpile.cache import make_region
from dogpile.cache.api import CachedValue

VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    255,
    2**31,
    -(2**63),
    2**64,
    -(2**100),
    0.5,
    -0.0,
    float("inf"),
    float("nan"),
    1e308,
    "",
    "Ada",
    "é\u20ac\U0001f600\x00",
    b"",
    b"\x00\xff" * 40,
    [],
    [1, [2, [3, [4]]]],
    (1, "two", 3.0),
    {"ids": [1, 2], "name": "x", 3: None},
    {"a" * 300: list(range(300))},
    ["s"] * 5000,
]

METADATA = {"ct": 1700000000.5, "v": 2}

# A few bytes declaring far more than they hold: each must be refused without allocating what
# it declares (the replay bounds allocation by the input's size).
HOSTILE: list[bytes] = [
    b"\x80\x04\x8d\x00\x00\x00\x00\x01\x00\x00\x00",  # BINUNICODE8, 4 GiB
    b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f",  # BINBYTES8, 2**63 - 1
    b"\x80\x03X\xff\xff\xff\xff",  # BINUNICODE, 4 GiB - 1
    b"\x80\x03B\xff\xff\xff\xff",  # BINBYTES
    b"\x80\x02\x8b\xff\xff\xff\x7f",  # LONG4, 2 GiB of digits
    b"\x80\x05\x96\x00\x00\x00\x00\x01\x00\x00\x00",  # BYTEARRAY8
    b"\x80\x04(" + b"N" * 64 + b"l.",  # a list from a mark
    b"\x80\x04]" + b"(" * 10000 + b".",  # marks without end
    b"\x80\x04" + b"]" * 20000 + b".",  # 20,000 empty lists on the stack
    b"\x80\x04" + b"}" * 2 + b"h\x00" * 10000 + b".",  # memo reads
    b"\xdb\xff\xff\xff\xff",  # msgpack str32, 4 GiB
    b"\xc6\xff\xff\xff\xff",  # bin32
    b"\xdd\xff\xff\xff\xff",  # array32, 4 G items
    b"\xdf\xff\xff\xff\xff",  # map32
    b"\x91" * 100000,  # arrays nested 100,000 deep
    b"[" * 100000,  # JSON nested 100,000 deep
    b'{"ct": 1, "v": 2}|' + b"[" * 100000,
    b"\x92\xdd\xff\xff\xff\xff\x80",  # the seed envelope around array32
]


def encodings(value: Any) -> list[bytes]:
    try:
        region = make_region(serializer=pickle.dumps, deserializer=pickle.loads)
    except TypeError:  # dogpile.cache 0.9 has no serializers
        region = None
    out = []
    for protocol in range(0, 6):
        out.append(pickle.dumps(value, protocol))
    if region is not None:
        out.append(region._serialize_cached_value_elements(value, METADATA))
        out.append(region._serialize_cached_value_elements(value, {**METADATA, "d": 0.25, "t": ["user:42"]}))
    try:
        packed = msgpack.packb(value)
        out.append(packed)
        out.append(msgpack.packb([value, METADATA]))
        out.append(b"%b|%b" % (json.dumps(METADATA).encode(), packed))
        out.append(msgpack.packb([value, 1700000000]))
    except (TypeError, ValueError, OverflowError):
        pass
    try:
        text = json.dumps(value, allow_nan=False)
        out.append(text.encode())
        out.append(json.dumps([value, METADATA]).encode())
        out.append(b"%b|%b" % (json.dumps(METADATA).encode(), text.encode()))
    except (TypeError, ValueError):
        pass
    out.append(pickle.dumps(CachedValue(value, METADATA), 2))
    if isinstance(value, str):
        out.append(value.encode())
    elif isinstance(value, int) and not isinstance(value, bool):
        out.append(b"i\x7f%d" % value)
    elif isinstance(value, bytes):
        out.append(b"b\x7f" + value)
    elif value is None:
        out.append(b"@\x7fNone")
    return out


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for value in VALUES:
        for data in encodings(value):
            if len(data) > 16 * 1024:
                continue
            (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
            count += 1
    for data in HOSTILE:
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
        count += 1
    print(f"{count} seeds in {out}")


if __name__ == "__main__":
    main()
