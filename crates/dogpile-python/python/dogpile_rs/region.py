"""``Region``: dogpile.cache's region API for synchronous code (threads, WSGI), on the
dogpile-rs region.

It is a dogpile.cache region without dogpile's per-key ``Lock`` machinery in Python: the
dogpile lock, the distributed lock, stale serving and the resilience options are the Rust
region's, and a call waits on the Rust region with the GIL released. A 100-key
``get_or_create_multi`` is a few round trips and one creator call. It shares values, function
keys and locks with dogpile.cache processes, with :class:`~dogpile_rs.AsyncRegion` and with
Rust processes::

    import dogpile_rs

    region = dogpile_rs.make_region().configure("dogpile_rs.memory", expiration_time=300)

    @region.cache_on_arguments()
    def user(user_id: int) -> dict:
        return {"id": user_id}

    assert user(42) == {"id": 42}
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
class Region(Configured):
    """A cache region for synchronous code. Make it with :func:`make_region` and
    ``configure`` it as a dogpile.cache region is configured. Creators run on the calling
    thread."""

    def get(self, key: Key, expiration_time: Seconds = None, ignore_expiration: bool = False) -> Any:
        """The value at ``key``, or ``NO_VALUE`` (also when it expired or was invalidated)."""
        return self._rust.get(self._key(key), seconds(expiration_time), ignore_expiration)

    def get_multi(self, keys: Sequence[Key], expiration_time: Seconds = None, ignore_expiration: bool = False) -> List[Any]:
        """The values at ``keys``, ``NO_VALUE`` where there is none, in one round trip."""
        return cast(List[Any], self._rust.get_multi(self._keys(keys), seconds(expiration_time), ignore_expiration))

    def set(self, key: Key, value: Any) -> None:
        self._rust.set(self._key(key), value)

    def set_multi(self, mapping: Mapping[Key, Any]) -> None:
        self._rust.set_multi({self._key(k): v for k, v in mapping.items()})

    def delete(self, key: Key) -> None:
        self._rust.delete(self._key(key))

    def delete_multi(self, keys: Sequence[Key]) -> None:
        self._rust.delete_multi(self._keys(keys))

    def get_or_create(
        self,
        key: Key,
        creator: Callable[..., Any],
        expiration_time: Seconds = None,
        should_cache_fn: Optional[Callable[[Any], bool]] = None,
        creator_args: Optional[Tuple[Tuple[Any, ...], Dict[str, Any]]] = None,
    ) -> Any:
        """The value at ``key``; when there is none or it expired, ``creator(*args, **kwargs)``
        makes it, run by one caller at a time while the others wait for it or get the expired
        value."""
        args = (tuple(creator_args[0]), dict(creator_args[1])) if creator_args is not None else None
        return self._rust.get_or_create(self._key(key), creator, seconds(expiration_time), should_cache_fn, args)

    def get_or_create_multi(
        self,
        keys: Sequence[Key],
        creator: Callable[..., Sequence[Any]],
        expiration_time: Seconds = None,
        should_cache_fn: Optional[Callable[[Any], bool]] = None,
    ) -> List[Any]:
        """The values at ``keys``; the missing and expired ones made by one call of
        ``creator(*keys_to_make)`` (one value each, in order), under each key's lock."""
        mangled = self._keys(keys)
        make = self._multi_creator(keys, mangled, creator)
        return cast(List[Any], self._rust.get_or_create_multi(mangled, make, seconds(expiration_time), should_cache_fn))

    def key_is_locked(self, key: Key) -> bool:
        """Whether a caller is creating the value at ``key`` now."""
        return bool(self._rust.key_is_locked(self._key(key)))

    def cache_on_arguments(
        self,
        namespace: Optional[str] = None,
        expiration_time: Expiry = None,
        should_cache_fn: Optional[Callable[[Any], bool]] = None,
        to_str: Callable[[Any], str] = str,
        function_key_generator: Optional[KeyGenerator] = None,
    ) -> Callable[[F], F]:
        """Caches a function's results by its arguments, with dogpile's keys. The wrapper has
        ``invalidate``, ``set``, ``get``, ``refresh`` and ``original``."""
        generator = function_key_generator or self.function_key_generator

        def decorator(fn: F) -> F:
            key_of = generator(namespace, fn, to_str=to_str)

            @functools.wraps(fn)
            def cached(*args: Any, **kw: Any) -> Any:
                key = key_of(*args, **kw)
                return self.get_or_create(key, fn, expiry(expiration_time), should_cache_fn, (args, kw))

            def refresh(*args: Any, **kw: Any) -> Any:
                value = fn(*args, **kw)
                self.set(key_of(*args, **kw), value)
                return value

            attach(
                cached,
                fn,
                invalidate=lambda *args, **kw: self.delete(key_of(*args, **kw)),
                set_=lambda value, *args, **kw: self.set(key_of(*args, **kw), value),
                get=lambda *args, **kw: self.get(key_of(*args, **kw), expiry(expiration_time)),
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
        """Caches a function of many arguments that returns one value per argument (a list,
        or a dictionary by argument with ``asdict``), each under its own key as dogpile keys
        it; a call makes only the missing ones, in one call of the function. The wrapper has
        ``invalidate``, ``set`` (a mapping), ``get``, ``refresh`` and ``original``."""
        generator = function_multi_key_generator or self.function_multi_key_generator

        def decorator(fn: F) -> F:
            keys_of = generator(namespace, fn, to_str=to_str)

            @functools.wraps(fn)
            def cached(*args: Any) -> Any:
                keys = list(keys_of(*args))
                arg_of = dict(zip(keys, args))

                def create(*wanted: Key) -> Sequence[Any]:
                    made = fn(*[arg_of[k] for k in wanted])
                    return [made.get(arg_of[k], NO_VALUE) for k in wanted] if asdict else made

                def cache(value: Any) -> bool:
                    if asdict and value is NO_VALUE:
                        return False
                    return should_cache_fn(value) if should_cache_fn is not None else True

                values = self.get_or_create_multi(keys, create, expiry(expiration_time), cache)
                if asdict:
                    return {a: v for a, v in zip(args, values) if v is not NO_VALUE}
                return values

            def refresh(*args: Any) -> Any:
                values = fn(*args)
                made = [values[a] for a in args] if asdict else values
                self.set_multi(dict(zip(keys_of(*args), made)))
                return values

            attach(
                cached,
                fn,
                invalidate=lambda *args: self.delete_multi(keys_of(*args)),
                set_=lambda mapping: self.set_multi(dict(zip(keys_of(*mapping), mapping.values()))),
                get=lambda *args: self.get_multi(keys_of(*args), expiry(expiration_time)),
                refresh=refresh,
            )
            return cast(F, cached)

        return decorator


def make_region(
    name: Optional[str] = None,
    function_key_generator: KeyGenerator = function_key_generator,
    function_multi_key_generator: MultiKeyGenerator = function_multi_key_generator,
    key_mangler: Optional[Callable[[Key], Key]] = None,
) -> Region:
    """A new :class:`Region`, to ``configure`` (dogpile's ``make_region``)."""
    return Region(name, function_key_generator, function_multi_key_generator, key_mangler)


__all__ = ["NO_VALUE", "Region", "make_region"]
