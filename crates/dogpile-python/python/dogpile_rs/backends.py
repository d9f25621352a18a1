"""The backend classes: thin ``CacheBackend`` subclasses over the Rust backends.

A region with no serializer of its own hands them ``CachedValue`` objects: the entry's
envelope (``json(metadata)|payload``, the bytes dogpile.cache 1.x writes) and its payload
(pickle by default; the ``serializer`` argument picks ``"json"`` or ``"msgpack"``) are made
and read in Rust, one call per region operation, with the Redis I/O done with the GIL
released. A region given a ``serializer`` and ``deserializer`` of its own takes the bytes
path instead (the ``*_serialized`` methods), as with any dogpile.cache backend.
"""

import os
from typing import Any
from typing import Dict
from typing import Iterable
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple
from typing import Type
from typing import Union

from dogpile.cache.api import NO_VALUE
from dogpile.cache.api import CacheBackend
from dogpile.cache.api import CachedValue
from dogpile.cache.api import CacheMutex
from dogpile.cache.api import NoValueType

from . import _dogpile_rs

#: A cache key: a string, or on the hstore backends a ``(hash, field)`` tuple of strings.
Key = Union[str, Tuple[str, str]]

#: How many forks this process descends from: a backend made before the last one rebuilds
#: its Rust side on its next call (a list, to be changed in place by the fork hook).
_forks = [0]


def _after_fork_in_child() -> None:
    """In a forked child: the connections of the parent are never used or closed here; every
    backend makes its own on its next call."""
    _forks[0] += 1
    _dogpile_rs.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


class RedisMutex(CacheMutex):
    """The token lock of one key, shared with Rust processes and with other Python ones."""

    __slots__ = ("_lock",)

    def __init__(self, lock: _dogpile_rs.Mutex) -> None:
        self._lock = lock

    def acquire(self, wait: bool = True) -> bool:
        return self._lock.acquire(wait)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def owned(self) -> bool:
        """Whether this object holds the lock now (false once it expired and another holder
        took it)."""
        return self._lock.owned()

    def __repr__(self) -> str:
        return repr(self._lock)


class _RustBackend(CacheBackend):
    """A dogpile-rs Redis backend; ``name`` says which.

    A forked child (a pre-fork server's worker) cannot use the connections its parent opened:
    its first call rebuilds the backend from the same arguments.
    """

    name: str = ""

    def __init__(self, arguments: Mapping[str, Any]) -> None:
        self._arguments = dict(arguments)
        self._forks = _forks[0]
        self._inner = _dogpile_rs.Backend(self.name, self._arguments)

    @property
    def _backend(self) -> _dogpile_rs.Backend:
        if self._forks != _forks[0]:
            self._inner = _dogpile_rs.Backend(self.name, self._arguments)
            self._forks = _forks[0]
        return self._inner

    def get(self, key: Key) -> Union[CachedValue, NoValueType]:
        return self._backend.get_value(key)

    def get_multi(self, keys: Sequence[Key]) -> List[Union[CachedValue, NoValueType]]:  # type: ignore[override]
        if not keys:
            return []
        return self._backend.get_values(keys)

    def set(self, key: Key, value: CachedValue) -> None:  # type: ignore[override]
        self._backend.set_value(key, value)

    def set_multi(self, mapping: Mapping[Key, CachedValue]) -> None:  # type: ignore[override]
        if mapping:
            self._backend.set_values(mapping)

    def get_serialized(self, key: Key) -> Union[bytes, NoValueType]:
        value = self._backend.get(key)
        return NO_VALUE if value is None else value

    def get_serialized_multi(self, keys: Sequence[Key]) -> List[Union[bytes, NoValueType]]:  # type: ignore[override]
        if not keys:
            return []
        return [NO_VALUE if value is None else value for value in self._backend.get_multi(keys)]

    def set_serialized(self, key: Key, value: bytes) -> None:
        self._backend.set(key, value)

    def set_serialized_multi(self, mapping: Mapping[Key, bytes]) -> None:  # type: ignore[override]
        if mapping:
            self._backend.set_multi(mapping)

    def delete(self, key: Key) -> None:
        self._backend.delete(key)

    def delete_multi(self, keys: Iterable[Key]) -> None:
        if keys:
            self._backend.delete_multi(list(keys))

    def get_mutex(self, key: Key) -> Optional[CacheMutex]:
        lock = self._backend.get_mutex(key)
        return None if lock is None else RedisMutex(lock)


class RedisAdvancedBackend(_RustBackend):
    """Plain keys: ``dogpile_rs.redis_advanced``, the plugin's
    ``dogpile_backend_redis_advanced`` arguments."""

    name = "dogpile_rs.redis_advanced"


class RedisAdvancedHstoreBackend(_RustBackend):
    """Plain keys, and ``(hash, field)`` tuple keys stored as hash fields, with the
    ``redis_expiration_time_hash`` policies: ``dogpile_rs.redis_advanced_hstore``."""

    name = "dogpile_rs.redis_advanced_hstore"


class RedisAdvancedClusterBackend(_RustBackend):
    """``dogpile_rs.redis_advanced`` on a Redis Cluster (``startup_nodes`` or ``url``)."""

    name = "dogpile_rs.redis_advanced_cluster"


class RedisAdvancedHstoreClusterBackend(_RustBackend):
    """``dogpile_rs.redis_advanced_hstore`` on a Redis Cluster."""

    name = "dogpile_rs.redis_advanced_hstore_cluster"


class RedisAdvancedSentinelBackend(_RustBackend):
    """``dogpile_rs.redis_advanced`` behind Sentinel (``sentinels``, ``service_name``)."""

    name = "dogpile_rs.redis_advanced_sentinel"


class RedisAdvancedHstoreSentinelBackend(_RustBackend):
    """``dogpile_rs.redis_advanced_hstore`` behind Sentinel."""

    name = "dogpile_rs.redis_advanced_hstore_sentinel"


BACKENDS: Dict[str, Type[_RustBackend]] = {
    cls.name: cls
    for cls in (
        RedisAdvancedBackend,
        RedisAdvancedHstoreBackend,
        RedisAdvancedClusterBackend,
        RedisAdvancedHstoreClusterBackend,
        RedisAdvancedSentinelBackend,
        RedisAdvancedHstoreSentinelBackend,
    )
}
