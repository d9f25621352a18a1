"""The Python half of the bridge between the Rust runtime and asyncio (see ``src/aio/``):
a creator's call, which the Rust side schedules on an event loop with ``call_soon_threadsafe``."""

import asyncio
import contextvars
import inspect
from typing import Any, Callable, Dict, Optional, Tuple


class Creation:
    """Calls a creator on ``loop`` in ``context`` and awaits it there if it returns an
    awaitable; ``done(ok, value)`` gets the outcome. ``cancel()`` may be called from any
    thread."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        context: Optional[contextvars.Context],
        creator: Callable[..., Any],
        args: Tuple[Any, ...],
        kwargs: Optional[Dict[str, Any]],
        done: Callable[[bool, Any], None],
    ) -> None:
        self._loop = loop
        self._task: "Optional[asyncio.Future[Any]]" = None
        self._cancelled = False
        self._done = done
        loop.call_soon_threadsafe(self._start, context, creator, args, kwargs or {})

    def _start(
        self, context: Optional[contextvars.Context], creator: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]
    ) -> None:
        if self._cancelled:
            self._done(False, asyncio.CancelledError())
            return
        try:
            made = creator(*args, **kwargs) if context is None else context.run(creator, *args, **kwargs)
        except BaseException as error:  # the creator's own error, handed to the caller
            self._done(False, error)
            return
        if not inspect.isawaitable(made):
            self._done(True, made)
            return
        self._task = asyncio.ensure_future(made) if context is None else context.run(asyncio.ensure_future, made)
        self._task.add_done_callback(self._finish)

    def _finish(self, task: "asyncio.Future[Any]") -> None:
        if task.cancelled():
            self._done(False, asyncio.CancelledError())
        elif task.exception() is not None:
            self._done(False, task.exception())
        else:
            self._done(True, task.result())

    def cancel(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:  # the loop is closed: the task is gone with it
            pass

    def _cancel(self) -> None:
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()
