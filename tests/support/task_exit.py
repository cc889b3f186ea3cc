"""`wait_exit`: block until an executor's task ends, as a task runner waits (``watch``,
then ``exit_result`` once woken; again when the task still runs), with a deadline."""

from __future__ import annotations

import threading
import time

from actors.worker.executors.base import Controller, ExitResult
from tests.support.waiting import DEFAULT_TIMEOUT

__all__ = ["wait_exit"]


def wait_exit(controller: Controller, timeout: float = DEFAULT_TIMEOUT) -> ExitResult:
    """How the controller's task ended; AssertionError when it runs past ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        error = _woken(controller, deadline - time.monotonic())
        if error is not None:
            raise error
        result = controller.exit_result()
        if result is not None:
            return result


def _woken(controller: Controller, timeout: float) -> BaseException | None:
    """Watch once: the error the watch ended with (None: woken)."""
    woken = threading.Event()
    errors: list[BaseException | None] = []

    def notify(error: BaseException | None) -> None:
        errors.append(error)
        woken.set()

    controller.watch(notify)
    if not woken.wait(max(0.0, timeout)):
        controller.close()
        raise AssertionError("the task still runs past the deadline")
    return errors[0]
