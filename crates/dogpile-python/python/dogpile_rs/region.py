"""``AsyncRegion``: dogpile.cache's region API for asyncio, on the dogpile-rs region.

Every method that touches the cache is a coroutine. The dogpile lock (one caller creates an
expired value while the others get it, or wait for the first value), the distributed lock,
stale serving and the resilience options are the Rust region's, so a Python process on an
``AsyncRegion``, a dogpile.cache process and a Rust process share values, function keys and
locks. Values are stored as dogpile.cache 1.x stores them (``json(metadata)|pickle``)::

    import asyncio
    import dogpile_rs

    region = dogpile_rs.make_async_region().configure("dogpile_rs.memory", expiration_time=300)

    @region.cache_on_arguments()
    async def user(user_id: int) -> dict:
        return {"id": user_id}

    async def main() -> None:
        assert await user(42) == {"id": 42}

    asyncio.run(main())
"""

import datetime
import functools
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from dogpile.cache.api import NO_VALUE
from dogpile.cache.exception import RegionAlreadyConfigured
from dogpile.cache.exception import RegionNotConfigured
from dogpile.cache.util import function_key_generator as default_function_key_generator

from ._dogpile_rs import Region

T = TypeVar("T")
Key = Union[str, Tuple[str, str]]
Seconds = Union[float, int, datetime.timedelta, None]
KeyGenerator = Callable[..., Callable[..., Key]]


def _seconds(expiration_time: Seconds) -> Optional[float]:
    if isinstance(expiration_time, datetime.timedelta):
        return expiration_time.total_seconds()
    return None if expiration_time is None else float(expiration_time)


class AsyncRegion:
    """A cache region whose operations are awaited. Make it with :func:`make_async_region`
    and ``configure`` it with a backend name of this package (``"dogpile_rs.memory"`` for
    one process, ``"dogpile_rs.redis_advanced"`` and the other Redis names for a fleet), as a
    dogpile.cache region is configured."""

    def __init__(
        self,
        name: Optional[str] = None,
        function_key_generator: KeyGenerator = default_function_key_generator,
        key_mangler: Optional[Callable[[Key], Key]] = None,
    ) -> None:
        self.name = name
        self.function_key_generator = function_key_generator
        self.key_mangler = key_mangler
        self._region: Optional[Region] = None

    def configure(
        self,
        backend: str,
        expiration_time: Seconds = None,
        arguments: Optional[Mapping[str, Any]] = None,
    ) -> "AsyncRegion":
        """Builds the region on ``backend`` with dogpile's ``arguments``; values older than
        ``expiration_time`` (seconds or a ``timedelta``; ``None``: never) are regenerated."""
        if self._region is not None:
            raise RegionAlreadyConfigured("This region is already configured with backend")
        self._region = Region(backend, dict(arguments or {}), _seconds(expiration_time))
        return self

    @property
    def is_configured(self) -> bool:
        return self._region is not None

    @property
    def _rust(self) -> Region:
        if self._region is None:
            raise RegionNotConfigured("No backend is configured on this region.")
        return self._region

    def _key(self, key: Key) -> Key:
        return self.key_mangler(key) if self.key_mangler is not None else key

    async def get(self, key: Key, expiration_time: Seconds = None, ignore_expiration: bool = False) -> Any:
        """The value at ``key``, or ``NO_VALUE`` (also when it expired or was invalidated)."""
        return await self._rust.get(self._key(key), _seconds(expiration_time), ignore_expiration)

    async def get_multi(
        self, keys: Sequence[Key], expiration_time: Seconds = None, ignore_expiration: bool = False
    ) -> Any:
        """The values at ``keys``, ``NO_VALUE`` where there is none, in one round trip."""
        if not keys:
            return []
        return await self._rust.get_multi([self._key(k) for k in keys], _seconds(expiration_time), ignore_expiration)

    async def set(self, key: Key, value: Any) -> None:
        await self._rust.set(self._key(key), value)

    async def set_multi(self, mapping: Mapping[Key, Any]) -> None:
        if mapping:
            await self._rust.set_multi({self._key(k): v for k, v in mapping.items()})

    async def delete(self, key: Key) -> None:
        await self._rust.delete(self._key(key))

    async def delete_multi(self, keys: Sequence[Key]) -> None:
        if keys:
            await self._rust.delete_multi([self._key(k) for k in keys])

    async def get_or_create(
        self,
        key: Key,
        creator: Callable[..., Any],
        expiration_time: Seconds = None,
        should_cache_fn: Optional[Callable[[Any], bool]] = None,
        creator_args: Optional[Tuple[Tuple[Any, ...], Dict[str, Any]]] = None,
    ) -> Any:
        """The value at ``key``; when there is none or it expired, ``creator(*args, **kwargs)``
        (an ``async def`` function, or a plain one) makes it, run by one caller at a time on
        its event loop while the others wait for it or get the expired value."""
        args = (tuple(creator_args[0]), dict(creator_args[1])) if creator_args is not None else None
        return await self._rust.get_or_create(self._key(key), creator, _seconds(expiration_time), should_cache_fn, args)

    async def key_is_locked(self, key: Key) -> bool:
        """Whether a caller is creating the value at ``key`` now."""
        return await self._rust.key_is_locked(self._key(key))

    def invalidate(self, hard: bool = True) -> None:
        """Every value written before now is a miss (``hard``), or is regenerated by one caller
        while the others still get it (soft)."""
        self._rust.invalidate(hard)

    def cache_on_arguments(
        self,
        namespace: Optional[str] = None,
        expiration_time: Union[Seconds, Callable[[], Seconds]] = None,
        should_cache_fn: Optional[Callable[[Any], bool]] = None,
        to_str: Callable[[Any], str] = str,
        function_key_generator: Optional[KeyGenerator] = None,
    ) -> Callable[[Callable[..., Awaitable[T]]], Any]:
        """Caches an ``async def`` function's results by its arguments, with dogpile's keys
        (a dogpile.cache region with the same key generator finds the same entries). The
        wrapper has ``invalidate``, ``set``, ``get``, ``refresh`` and ``original``."""
        generator = function_key_generator or self.function_key_generator

        def decorator(fn: Callable[..., Awaitable[T]]) -> Any:
            key_of = generator(namespace, fn, to_str=to_str)

            def expiry() -> Seconds:
                return expiration_time() if callable(expiration_time) else expiration_time

            @functools.wraps(fn)
            async def cached(*args: Any, **kw: Any) -> T:
                key = key_of(*args, **kw)
                return await self.get_or_create(key, fn, expiry(), should_cache_fn, (args, kw))  # type: ignore[no-any-return]

            async def invalidate(*args: Any, **kw: Any) -> None:
                await self.delete(key_of(*args, **kw))

            async def set_(value: T, *args: Any, **kw: Any) -> None:
                await self.set(key_of(*args, **kw), value)

            async def get(*args: Any, **kw: Any) -> Any:
                return await self.get(key_of(*args, **kw), expiry())

            async def refresh(*args: Any, **kw: Any) -> T:
                value = await fn(*args, **kw)
                await self.set(key_of(*args, **kw), value)
                return value

            cached.invalidate = invalidate  # type: ignore[attr-defined]
            cached.set = set_  # type: ignore[attr-defined]
            cached.get = get  # type: ignore[attr-defined]
            cached.refresh = refresh  # type: ignore[attr-defined]
            cached.original = fn  # type: ignore[attr-defined]
            return cached

        return decorator


def make_async_region(
    name: Optional[str] = None,
    function_key_generator: KeyGenerator = default_function_key_generator,
    key_mangler: Optional[Callable[[Key], Key]] = None,
) -> AsyncRegion:
    """A new :class:`AsyncRegion`, to ``configure`` (dogpile's ``make_region`` for asyncio)."""
    return AsyncRegion(name=name, function_key_generator=function_key_generator, key_mangler=key_mangler)


__all__ = ["AsyncRegion", "NO_VALUE", "make_async_region"]
