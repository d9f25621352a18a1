"""Drives a real Python dogpile.cache region for the interoperability tests.

Usage: driver.py SETUP URL

Reads one JSON request per line on stdin and answers each with one JSON line on stdout. Values
travel as tagged specs that keep Python's types apart: ["int", "123"], ["float", 1.5],
["str", "x"], ["bytes", "00ff"], ["bool", true], ["none"], ["list", [...]], ["tuple", [...]],
["dict", [[key, value], ...]]. Keys are a string, or [name, field] for a hash key.
"""

import json
import sys
import time
import traceback
from unittest import mock

import dogpile.cache
import msgpack
import redis
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE, CachedValue
from dogpile.cache.util import function_key_generator

DOGPILE_1 = dogpile.cache.__version__.startswith("1.")


def from_spec(spec):
    tag = spec[0]
    if tag == "int":
        return int(spec[1])
    if tag == "float":
        return float(spec[1])
    if tag == "str":
        return spec[1]
    if tag == "bytes":
        return bytes.fromhex(spec[1])
    if tag == "bool":
        return bool(spec[1])
    if tag == "none":
        return None
    if tag == "list":
        return [from_spec(s) for s in spec[1]]
    if tag == "tuple":
        return tuple(from_spec(s) for s in spec[1])
    if tag == "dict":
        return {from_spec(k): from_spec(v) for k, v in spec[1]}
    raise ValueError("unknown spec tag %r" % (tag,))


def to_spec(value):
    if value is None:
        return ["none"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", value]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    if isinstance(value, list):
        return ["list", [to_spec(v) for v in value]]
    if isinstance(value, tuple):
        return ["tuple", [to_spec(v) for v in value]]
    if isinstance(value, dict):
        return ["dict", [[to_spec(k), to_spec(v)] for k, v in value.items()]]
    return ["unsupported", type(value).__name__]


def to_key(key):
    return tuple(key) if isinstance(key, list) else key


# The seed README's serializers for plugin 0.4.x.
def msgpack_loads(value):
    return CachedValue(*msgpack.unpackb(value, use_list=False))


def raw_dumps(value):
    return msgpack.packb(value.payload)


def raw_loads(value):
    from dogpile.cache.region import value_version

    return CachedValue(msgpack.unpackb(value, use_list=False), {"ct": time.time(), "v": value_version})


def make(setup, url):
    args = {
        "url": url,
        "distributed_lock": True,
        "thread_local_lock": False,
        "lock_sleep": 0.02,
    }
    if setup == "dogpile1-pickle":
        return make_region().configure("dogpile.cache.redis", arguments=args)
    if setup == "dogpile1-msgpack":
        region = make_region(serializer=msgpack.packb, deserializer=msgpack.unpackb)
        return region.configure("dogpile.cache.redis", arguments=args)
    if setup == "dogpile1-json":
        region = make_region(serializer=lambda v: json.dumps(v).encode(), deserializer=json.loads)
        return region.configure("dogpile.cache.redis", arguments=args)
    if setup == "valkey-pickle":
        return make_region().configure("dogpile.cache.valkey", arguments=args)
    if setup == "valkey-msgpack":
        region = make_region(serializer=msgpack.packb, deserializer=msgpack.unpackb)
        return region.configure("dogpile.cache.valkey", arguments={**args, "valkey_expiration_time": 3600})
    if setup == "seed05-hstore":
        import dogpile_backend_redis_advanced  # noqa: F401 (registers the backends)

        # A Redis TTL: without one the plugin sends `EXPIRE hash 0` after each hash write.
        return make_region().configure(
            "dogpile_backend_redis_advanced.hstore", arguments=dict(args, redis_expiration_time=3600)
        )
    if setup == "seed05-raw":
        import dogpile_backend_redis_advanced  # noqa: F401
        from dogpile_backend_redis_advanced.cache.serializers import Serializer_Raw_ProxyBackend

        return make_region().configure(
            "dogpile_backend_redis_advanced.already_serialized",
            arguments=dict(args, redis_expiration_time=60),
            wrap=[Serializer_Raw_ProxyBackend],
        )
    if setup in ("seed05-pickle-int-time", "seed05-pickle-no-meta"):
        import dogpile_backend_redis_advanced  # noqa: F401
        from dogpile_backend_redis_advanced.cache import serializers

        proxy = (
            serializers.Serializer_PickleIntTime_ProxyBackend
            if setup == "seed05-pickle-int-time"
            else serializers.Serializer_PickleNoMeta_ProxyBackend
        )
        return make_region().configure(
            "dogpile_backend_redis_advanced.already_serialized",
            arguments=dict(args, redis_expiration_time=60),
            wrap=[proxy],
        )
    if setup == "wheel-pickle":
        import dogpile_rs  # noqa: F401 (registers the backends)

        # As redis-py's lock: releasing a lock that was lost raises.
        return make_region().configure("dogpile_rs.redis_advanced", arguments=dict(args, lock_lost="error"))
    if setup == "wheel-hstore-msgpack":
        import dogpile_rs  # noqa: F401

        region = make_region(serializer=msgpack.packb, deserializer=msgpack.unpackb)
        return region.configure(
            "dogpile_rs.redis_advanced_hstore",
            arguments=dict(args, redis_expiration_time=3600, lock_lost="error"),
        )
    if setup == "dogpile09-pickle":
        return make_region().configure("dogpile.cache.redis", arguments=args)
    if setup == "seed04-pickle":
        import dogpile_backend_redis_advanced  # noqa: F401

        return make_region().configure(
            "dogpile_backend_redis_advanced_hstore", arguments=dict(args, redis_expiration_time=3600)
        )
    if setup == "seed04-msgpack":
        import dogpile_backend_redis_advanced  # noqa: F401

        return make_region().configure(
            "dogpile_backend_redis_advanced_hstore",
            arguments=dict(args, loads=msgpack_loads, dumps=msgpack.packb, redis_expiration_time=3600),
        )
    if setup == "seed04-raw":
        import dogpile_backend_redis_advanced  # noqa: F401

        return make_region().configure(
            "dogpile_backend_redis_advanced_hstore",
            arguments=dict(args, loads=raw_loads, dumps=raw_dumps, redis_expiration_time=60),
        )
    raise ValueError("unknown setup %r" % (setup,))


def compute(*args):
    """The cached function of the function-key tests; its body counts its runs."""
    CLIENT.incr("fn:runs")
    return "py:" + " ".join(map(str, args))


compute.__module__ = "interop"


def main():
    global CLIENT
    setup, url = sys.argv[1], sys.argv[2]
    region = make(setup, url)
    CLIENT = redis.Redis.from_url(url)
    cached_compute = region.cache_on_arguments()(compute)
    key_of = function_key_generator(None, compute)
    mutexes = {}

    def creator_for(request):
        def create():
            CLIENT.incr(request["counter"])
            time.sleep(request.get("sleep", 0))
            return from_spec(request["value"])

        return create

    def handle(request):
        op = request["op"]
        if op == "set":
            key, value = to_key(request["key"]), from_spec(request["value"])
            if "ct" in request:
                with mock.patch("time.time", return_value=request["ct"]):
                    region.set(key, value)
            else:
                region.set(key, value)
            return {"ok": True}
        if op == "get":
            value = region.get(to_key(request["key"]), ignore_expiration=True)
            return {"miss": True} if value is NO_VALUE else {"value": to_spec(value)}
        if op == "roundtrip":
            region.set("interop:scratch", from_spec(request["value"]))
            value = region.get("interop:scratch", ignore_expiration=True)
            return {"miss": True} if value is NO_VALUE else {"value": to_spec(value)}
        if op == "set_multi":
            region.set_multi({to_key(k): from_spec(v) for k, v in request["items"]})
            return {"ok": True}
        if op == "get_multi":
            values = region.get_multi([to_key(k) for k in request["keys"]], ignore_expiration=True)
            return {"values": [None if v is NO_VALUE else to_spec(v) for v in values]}
        if op == "get_or_create":
            value = region.get_or_create(
                to_key(request["key"]), creator_for(request), expiration_time=request["expiration_time"]
            )
            return {"value": to_spec(value)}
        if op == "fn_call":
            args = [from_spec(a) for a in request["args"]]
            return {"value": to_spec(cached_compute(*args)), "key": key_of(*args)}
        if op == "lock_acquire":
            key = to_key(request["key"])
            mutex = region.backend.get_mutex(key)
            mutexes[json.dumps(request["key"])] = mutex
            return {"acquired": bool(mutex.acquire(False))}
        if op == "lock_owned":
            mutex = mutexes[json.dumps(request["key"])]
            inner = getattr(mutex, "mutex", mutex)
            return {"owned": bool(inner.owned())}
        if op == "lock_release":
            mutexes.pop(json.dumps(request["key"])).release()
            return {"ok": True}
        raise ValueError("unknown op %r" % (op,))

    print(json.dumps({"ready": setup, "dogpile": dogpile.cache.__version__}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            answer = handle(request)
        except Exception as exc:  # the test decides what an error means
            answer = {"error": "%s: %s" % (type(exc).__name__, exc), "trace": traceback.format_exc(limit=3)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
