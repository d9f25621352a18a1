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

import functools
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar, cast

from dogpile.cache.api import NO_VALUE
from dogpile.cache.util import function_key_generator
from dogpile.cache.util import function_multi_key_generator

from ._configured import Configured
from ._configured import Expiry
from ._configured import attach
from ._configured import expiry
from ._configured import Key
from ._configured import KeyGenerator
from ._configured import MultiKeyGenerator
from ._configured import Seconds
from ._configured import seconds

F = TypeVar("F", bound=Callable[..., Any])
class AsyncRegion(Configured):
    """A cache region whose operations are awaited. Make it with :func:`make_async_region`
    and ``configure`` it as a dogpile.cache region is configured. Its calls are made on a
    running event loop (asyncio's or uvloop's); creators run on that loop."""

    _awaitable = True

    async def get(self, key: Key, expiration_time: Seconds = None, ignore_expiration: bool = False) -> Any:
        """The value at ``key``, or ``NO_VALUE`` (also when it expired or was invalidated)."""
        return await self._rust.get(self._key(key), seconds(expiration_time), ignore_expiration)

    async def get_multi(
        self, keys: Sequence[Key], expiration_time: Seconds = None, ignore_expiration: bool = False
    ) -> List[Any]:
        """The values at ``keys``, ``NO_VALUE`` where there is none, in one round trip."""
        return cast(List[Any], await self._rust.get_multi(self._keys(keys), seconds(expiration_time), ignore_expiration))

    async def set(self, key: Key, value: Any) -> None:
        await self._rust.set(self._key(key), value)

    async def set_multi(self, mapping: Mapping[Key, Any]) -> None:
        await self._rust.set_multi({self._key(k): v for k, v in mapping.items()})

    async def delete(self, key: Key) -> None:
        await self._rust.delete(self._key(key))

    async def delete_multi(self, keys: Sequence[Key]) -> None:
        await self._rust.delete_multi(self._keys(keys))

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
        return await self._rust.get_or_create(self._key(key), creator, seconds(expiration_time), should_cache_fn, args)

    async def get_or_create_multi(
        self,
        keys: Sequence[Key],
        creator: Callable[..., Any],
        expiration_time: Seconds = None,
        should_cache_fn: Optional[Callable[[Any], bool]] = None,
    ) -> List[Any]:
        """The values at ``keys``; the missing and expired ones made by one call of
        ``creator(*keys_to_make)`` (one value each, in order), under each key's lock."""
        mangled = self._keys(keys)
        make = self._multi_creator(keys, mangled, creator)
        return cast(List[Any], await self._rust.get_or_create_multi(mangled, make, seconds(expiration_time), should_cache_fn))

    async def key_is_locked(self, key: Key) -> bool:
        """Whether a caller is creating the value at ``key`` now."""
        return bool(await self._rust.key_is_locked(self._key(key)))

    def cache_on_arguments(
        self,
        namespace: Optional[str] = None,
        expiration_time: Expiry = None,
        should_cache_fn: Optional[Callable[[Any], bool]] = None,
        to_str: Callable[[Any], str] = str,
        function_key_generator: Optional[KeyGenerator] = None,
    ) -> Callable[[F], F]:
        """Caches an ``async def`` function's results by its arguments, with dogpile's keys
        (a dogpile.cache region with the same key generator finds the same entries). The
        wrapper has ``invalidate``, ``set``, ``get``, ``refresh`` and ``original``."""
        generator = function_key_generator or self.function_key_generator

        def decorator(fn: F) -> F:
            key_of = generator(namespace, fn, to_str=to_str)

            @functools.wraps(fn)
            async def cached(*args: Any, **kw: Any) -> Any:
                key = key_of(*args, **kw)
                return await self.get_or_create(key, fn, expiry(expiration_time), should_cache_fn, (args, kw))

            async def invalidate(*args: Any, **kw: Any) -> None:
                await self.delete(key_of(*args, **kw))

            async def set_(value: Any, *args: Any, **kw: Any) -> None:
                await self.set(key_of(*args, **kw), value)

            async def get(*args: Any, **kw: Any) -> Any:
                return await self.get(key_of(*args, **kw), expiry(expiration_time))

            async def refresh(*args: Any, **kw: Any) -> Any:
                value = await fn(*args, **kw)
                await self.set(key_of(*args, **kw), value)
                return value

            attach(
                cached,
                fn,
                invalidate=invalidate,
                set_=set_,
                get=get,
                refresh=refresh,
            )
            return cast(F, cached)

        return decorator

    def cache_multi_on_arguments(
        self,
        namespace: Optional[str] = None,
        expiration_time: Expiry = None,
        should_cache_fn: Optional[Callable[[Any], bool]] = None,
        asdict: bool = False,
        to_str: Callable[[Any], str] = str,
        function_multi_key_generator: Optional[MultiKeyGenerator] = None,
    ) -> Callable[[F], F]:
        """Caches an ``async def`` function of many arguments that returns one value per
        argument (a list, or a dictionary by argument with ``asdict``), each under its own key
        as dogpile's ``cache_multi_on_arguments`` keys it; a call makes only the missing ones,
        in one call of the function. The wrapper has ``invalidate``, ``set`` (a mapping),
        ``get``, ``refresh`` and ``original``."""
        generator = function_multi_key_generator or self.function_multi_key_generator

        def decorator(fn: F) -> F:
            keys_of = generator(namespace, fn, to_str=to_str)

            @functools.wraps(fn)
            async def cached(*args: Any) -> Any:
                keys = list(keys_of(*args))
                arg_of = dict(zip(keys, args))

                async def create(*wanted: Key) -> Sequence[Any]:
                    made = await fn(*[arg_of[k] for k in wanted])
                    return [made.get(arg_of[k], NO_VALUE) for k in wanted] if asdict else made

                def cache(value: Any) -> bool:
                    if asdict and value is NO_VALUE:
                        return False
                    return should_cache_fn(value) if should_cache_fn is not None else True

                values = await self.get_or_create_multi(keys, create, expiry(expiration_time), cache)
                if asdict:
                    return {a: v for a, v in zip(args, values) if v is not NO_VALUE}
                return values

            async def invalidate(*args: Any) -> None:
                await self.delete_multi(keys_of(*args))

            async def set_(mapping: Mapping[Any, Any]) -> None:
                await self.set_multi(dict(zip(keys_of(*mapping), mapping.values())))

            async def get(*args: Any) -> List[Any]:
                return await self.get_multi(keys_of(*args), expiry(expiration_time))

            async def refresh(*args: Any) -> Any:
                values = await fn(*args)
                made = [values[a] for a in args] if asdict else values
                await self.set_multi(dict(zip(keys_of(*args), made)))
                return values

            attach(
                cached,
                fn,
                invalidate=invalidate,
                set_=set_,
                get=get,
                refresh=refresh,
            )
            return cast(F, cached)

        return decorator


def make_async_region(
    name: Optional[str] = None,
    function_key_generator: KeyGenerator = function_key_generator,
    function_multi_key_generator: MultiKeyGenerator = function_multi_key_generator,
    key_mangler: Optional[Callable[[Key], Key]] = None,
) -> AsyncRegion:
    """A new :class:`AsyncRegion`, to ``configure`` (dogpile's ``make_region`` for asyncio)."""
    return AsyncRegion(name, function_key_generator, function_multi_key_generator, key_mangler)


__all__ = ["AsyncRegion", "NO_VALUE", "make_async_region"]
