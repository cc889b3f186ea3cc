"""The end of an asyncio loop that runs on a thread of its own (the HTTP shell, the
routing mesh): its cleanup always runs and the loop is closed; a loop that ended before
its start was signalled fails the owner's ``start``; one that ended afterwards, unasked,
is reported to the owner (``on_exit``: unless the owner asked it to stop, its actor
crashes and its supervisor restarts it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

__all__ = ["run_loop"]


def run_loop(
    loop: asyncio.AbstractEventLoop,
    serve: Callable[[], None],
    cleanup: Callable[[], Coroutine[Any, Any, None]],
    started: Future[Any],
    start_error: Callable[[], BaseException],
    on_exit: Callable[[BaseException | None], None],
) -> None:
    """On the loop's thread: ``serve()`` (runs the loop until it ends, and sets
    ``started`` once serving), then ``cleanup()`` on the loop, then close it. After a
    start, ``on_exit`` gets the error the loop ended with, if any."""
    error: BaseException | None = None
    try:
        serve()
    except BaseException as exc:  # reported to the owner below
        error = exc
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(cleanup())
        loop.close()
    if not started.done():
        started.set_exception(error or start_error())
    else:
        on_exit(error)
