"""What :class:`~dogpile_rs.Region` and :class:`~dogpile_rs.AsyncRegion` share: their
configuration (dogpile's ``make_region(...).configure(...)`` names), key mangling, and the keys
of decorated functions."""

import datetime
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from dogpile.cache.exception import RegionAlreadyConfigured
from dogpile.cache.exception import RegionNotConfigured
from dogpile.cache.util import function_key_generator as default_function_key_generator
from dogpile.cache.util import function_multi_key_generator as default_function_multi_key_generator

from ._dogpile_rs import Region as _Rust

Key = Union[str, Tuple[str, str]]
Seconds = Union[float, int, datetime.timedelta, None]
KeyGenerator = Callable[..., Callable[..., Key]]
MultiKeyGenerator = Callable[..., Callable[..., Sequence[Key]]]
Self = TypeVar("Self", bound="Configured")
Expiry = Union[Seconds, Callable[[], Seconds]]

#: The region options beside dogpile's, which the Rust region implements (``configure``).
RESILIENCE = (
    "fail_safe",
    "fail_safe_throttle",
    "creator_timeout",
    "soft_timeout",
    "fail_open",
    "early_refresh",
    "expiration_jitter",
    "background_regeneration",
)


def seconds(expiration_time: Seconds) -> Optional[float]:
    """Seconds as a float (``None`` stays ``None``)."""
    if isinstance(expiration_time, datetime.timedelta):
        return expiration_time.total_seconds()
    return None if expiration_time is None else float(expiration_time)


def expiry(expiration_time: Expiry) -> Seconds:
    """A decorator's expiration time now: its value, or what its callable says."""
    return expiration_time() if callable(expiration_time) else expiration_time


def attach(
    cached: Callable[..., Any],
    original: Callable[..., Any],
    invalidate: Callable[..., Any],
    set_: Callable[..., Any],
    get: Callable[..., Any],
    refresh: Callable[..., Any],
) -> None:
    """Gives a decorated function dogpile's attributes: ``invalidate``, ``set``, ``get``,
    ``refresh`` and ``original``."""
    cached.invalidate = invalidate  # type: ignore[attr-defined]
    cached.set = set_  # type: ignore[attr-defined]
    cached.get = get  # type: ignore[attr-defined]
    cached.refresh = refresh  # type: ignore[attr-defined]
    cached.original = original  # type: ignore[attr-defined]


class Configured:
    """A region to ``configure``: a backend name of this package (``"dogpile_rs.memory"`` for
    one process, ``"dogpile_rs.redis_advanced"`` and the other Redis names for a fleet) with
    dogpile's ``arguments`` (the L1 is the ``l1`` argument), and the Rust region's resilience
    options as keywords."""

    _awaitable = False

    def __init__(
        self,
        name: Optional[str] = None,
        function_key_generator: KeyGenerator = default_function_key_generator,
        function_multi_key_generator: MultiKeyGenerator = default_function_multi_key_generator,
        key_mangler: Optional[Callable[[Key], Key]] = None,
    ) -> None:
        self.name = name
        self.function_key_generator = function_key_generator
        self.function_multi_key_generator = function_multi_key_generator
        self.key_mangler = key_mangler
        self._region: Optional[_Rust] = None

    def configure(
        self: Self,
        backend: str,
        expiration_time: Seconds = None,
        arguments: Optional[Mapping[str, Any]] = None,
        replace_existing_backend: bool = False,
        **resilience: Any,
    ) -> Self:
        """Builds the region on ``backend`` with dogpile's ``arguments``; values older than
        ``expiration_time`` (seconds or a ``timedelta``; ``None``: never) are regenerated.

        The keywords ``fail_safe`` (seconds an expired value may stand in when its creator or
        the backend fails), ``fail_safe_throttle`` (seconds before such a key is tried again),
        ``creator_timeout`` and ``soft_timeout`` (seconds), ``fail_open`` (``True``, or a
        dictionary of ``failures``, ``cooldown`` and ``capacity``), ``early_refresh`` (the beta
        of probabilistic early expiration), ``expiration_jitter`` (a fraction) and
        ``background_regeneration`` (an expired value is returned at once while a task makes
        the new one: dogpile's ``async_creation_runner``) set the Rust region's resilience
        options."""
        if self._region is not None and not replace_existing_backend:
            raise RegionAlreadyConfigured("This region is already configured with backend")
        unknown = sorted(set(resilience) - set(RESILIENCE))
        if unknown:
            raise TypeError(f"configure() got unexpected keywords {unknown}; the region options are {RESILIENCE}")
        self._region = _Rust(backend, dict(arguments or {}), seconds(expiration_time), self._awaitable, resilience)
        return self

    def configure_from_config(self: Self, config_dict: Mapping[str, Any], prefix: str) -> Self:
        """``configure`` from a flat dictionary, as dogpile's: ``<prefix>backend``,
        ``<prefix>expiration_time`` and ``<prefix>arguments.<name>``."""
        arguments = {k[len(prefix) + len("arguments.") :]: v for k, v in config_dict.items() if k.startswith(f"{prefix}arguments.")}
        expiration = config_dict.get(f"{prefix}expiration_time")
        return self.configure(
            config_dict[f"{prefix}backend"],
            expiration_time=float(expiration) if expiration is not None else None,
            arguments=arguments,
        )

    @property
    def is_configured(self) -> bool:
        return self._region is not None

    @property
    def _rust(self) -> _Rust:
        if self._region is None:
            raise RegionNotConfigured("No backend is configured on this region.")
        return self._region

    def _key(self, key: Key) -> Key:
        return self.key_mangler(key) if self.key_mangler is not None else key

    def _keys(self, keys: Sequence[Key]) -> Sequence[Key]:
        return [self.key_mangler(k) for k in keys] if self.key_mangler is not None else keys

    def _multi_creator(self, keys: Sequence[Key], mangled: Sequence[Key], creator: Callable[..., Any]) -> Callable[..., Any]:
        """``creator`` called with the keys as given, for a creator the Rust region calls with
        the mangled ones."""
        if self.key_mangler is None:
            return creator
        given: Dict[Key, Key] = dict(zip(mangled, keys))
        return lambda *made: creator(*[given[k] for k in made])

    def invalidate(self, hard: bool = True) -> None:
        """Every value written before now is a miss (``hard``), or is regenerated by one caller
        while the others still get it (soft)."""
        self._rust.invalidate(hard)
