"""dogpile.cache backends for Redis, implemented in Rust (dogpile-rs).

Importing the package registers its backends with dogpile.cache (they are also declared
as ``dogpile.cache`` entry points)::

    from dogpile.cache import make_region
    import dogpile_rs  # noqa: F401

    region = make_region().configure(
        "dogpile_rs.redis_advanced_hstore",
        expiration_time=300,
        arguments={"url": "redis://127.0.0.1:6379/0", "distributed_lock": True},
    )
"""

from dogpile.cache import register_backend

from ._dogpile_rs import BackendError
from .backends import BACKENDS
from .backends import RedisAdvancedBackend
from .backends import RedisAdvancedClusterBackend
from .backends import RedisAdvancedHstoreBackend
from .backends import RedisAdvancedHstoreClusterBackend
from .backends import RedisAdvancedHstoreSentinelBackend
from .backends import RedisAdvancedSentinelBackend
from .backends import RedisMutex
from .async_region import AsyncRegion
from .async_region import make_async_region
from .region import Region
from .region import make_region

__all__ = [
    "AsyncRegion",
    "BackendError",
    "RedisAdvancedBackend",
    "RedisAdvancedClusterBackend",
    "RedisAdvancedHstoreBackend",
    "RedisAdvancedHstoreClusterBackend",
    "RedisAdvancedHstoreSentinelBackend",
    "RedisAdvancedSentinelBackend",
    "RedisMutex",
    "Region",
    "make_async_region",
    "make_region",
]

for _name, _cls in BACKENDS.items():
    register_backend(_name, "dogpile_rs.backends", _cls.__name__)  # type: ignore[no-untyped-call]
