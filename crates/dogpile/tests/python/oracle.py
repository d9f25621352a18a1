"""The differential oracle's Python side: CPython's pickle and msgpack as the reference readers.

Usage: oracle.py EXAMPLES

1. Generates EXAMPLES values with hypothesis (derandomized: the same values on every run),
   pickles each with protocols 2 to 5 and packs it with msgpack, and prints one JSON line per
   payload that CPython reads back: {"id", "format", "data": hex, "typed": what CPython's
   pickle.loads / msgpack.unpackb read, as a typed form}, then {"generated": n}.
2. Reads one JSON line per payload written by the other side, {"id", "format", "data": hex},
   until end of input; loads each with CPython and compares the typed form with what CPython
   read from its own payload of the same id. Prints {"checked": n, "mismatches": [...]}.

The typed form keeps apart what JSON would merge: ["int", "123"], ["float", "<8 bytes, hex>"]
(NaN payloads and -0.0 included), ["str", "<UTF-8, hex>"], ["bytes", "<hex>"], ["bool", b],
["none"], ["list", [...]], ["tuple", [...]], ["dict", [[key, value], ...]] in dict order.
"""

from __future__ import annotations

import json
import pickle
import struct
import sys
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

Typed = list[Any]


def typed(value: Any) -> Typed:
    if value is None:
        return ["none"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", struct.pack(">d", value).hex()]
    if isinstance(value, str):
        return ["str", value.encode("utf-8", "surrogatepass").hex()]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    if isinstance(value, list):
        return ["list", [typed(item) for item in value]]
    if isinstance(value, tuple):
        return ["tuple", [typed(item) for item in value]]
    if isinstance(value, dict):
        return ["dict", [[typed(k), typed(v)] for k, v in value.items()]]
    return ["other", type(value).__name__]


def floats() -> st.SearchStrategy[float]:
    """Every float, with NaNs of other payloads and signs than Python's own."""
    nan_bits = st.integers(0x7FF0000000000001, 0x7FFFFFFFFFFFFFFF).map(lambda bits: bits | (0x8000000000000000 * (bits & 1)))
    return st.floats() | nan_bits.map(lambda bits: struct.unpack(">d", bits.to_bytes(8, "big"))[0])


def values() -> st.SearchStrategy[Any]:
    integers = st.integers() | st.integers(-(2**64), 2**64) | st.integers(-(2**127), 2**127)
    scalars = st.none() | st.booleans() | integers | floats() | st.text() | st.binary()
    keys = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=4)

    def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return (
            st.lists(children)
            | st.lists(children).map(tuple)
            | st.dictionaries(keys, children)
            # The same object twice: pickle's memo refers back to it.
            | children.map(lambda item: [item, item])
        )

    return st.recursive(scalars, containers, max_leaves=40)


def payloads(value: Any) -> list[tuple[str, bytes]]:
    out = [(f"pickle{protocol}", pickle.dumps(value, protocol)) for protocol in range(2, 6)]
    try:
        out.append(("msgpack", msgpack.packb(value)))
    except (TypeError, ValueError, OverflowError):
        pass
    return out


def read(fmt: str, data: bytes) -> Any:
    return msgpack.unpackb(data) if fmt == "msgpack" else pickle.loads(data)


def generate(examples: int) -> dict[int, Typed]:
    expected: dict[int, Typed] = {}

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(values())
    def each(value: Any) -> None:
        for fmt, data in payloads(value):
            try:
                form = typed(read(fmt, data))
            except (ValueError, TypeError):
                continue  # msgpack.unpackb refuses maps with keys other than str and bytes
            expected[len(expected)] = form
            print(json.dumps({"id": len(expected) - 1, "format": fmt, "data": data.hex(), "typed": form}))

    each()
    print(json.dumps({"generated": len(expected)}), flush=True)
    return expected


def check(expected: dict[int, Typed]) -> None:
    checked = 0
    mismatches: list[dict[str, Any]] = []
    for line in sys.stdin:
        request = json.loads(line)
        want = expected[request["id"]]
        try:
            got = typed(read(request["format"], bytes.fromhex(request["data"])))
        except Exception as err:  # noqa: BLE001 - any refusal is a mismatch to report
            got = ["error", repr(err)]
        checked += 1
        if got != want and len(mismatches) < 20:
            mismatches.append({"id": request["id"], "format": request["format"], "want": want, "got": got})
    print(json.dumps({"checked": checked, "mismatches": mismatches}), flush=True)


def main() -> None:
    sys.setrecursionlimit(10_000)
    check(generate(int(sys.argv[1])))


if __name__ == "__main__":
    main()
