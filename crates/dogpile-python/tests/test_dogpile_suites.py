"""dogpile.cache's own generic suites (from the installed package) on the dogpile_rs
backends, as dogpile.cache runs them on its Redis backend: each backend without and with the
distributed lock, with a JSON serializer, and its mutex."""

import os

from dogpile.testing.fixtures import _GenericBackendTestSuite
from dogpile.testing.fixtures import _GenericMutexTestSuite
from dogpile.testing.fixtures import _GenericSerializerTestSuite

import dogpile_rs  # noqa: F401 (registers the backends)

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]
ARGUMENTS = {"url": URL, "redis_expiration_time": 3600}
LOCKED = dict(ARGUMENTS, distributed_lock=True, lock_sleep=0.01)

BACKENDS = {"RedisAdvanced": "dogpile_rs.redis_advanced", "RedisAdvancedHstore": "dogpile_rs.redis_advanced_hstore"}
SUITES = {
    "": ((_GenericBackendTestSuite,), ARGUMENTS),
    "Locked": ((_GenericBackendTestSuite,), LOCKED),
    "Serializer": ((_GenericSerializerTestSuite, _GenericBackendTestSuite), ARGUMENTS),
    "Mutex": ((_GenericMutexTestSuite,), LOCKED),
}

# TestRedisAdvanced, TestRedisAdvancedLocked, ..., TestRedisAdvancedHstoreMutex.
for _prefix, _backend in BACKENDS.items():
    for _suffix, (_bases, _arguments) in SUITES.items():
        _name = f"Test{_prefix}{_suffix}"
        globals()[_name] = type(_name, _bases, {"backend": _backend, "config_args": {"arguments": _arguments}})
