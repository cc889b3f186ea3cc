"""The dispatcher's status intake: judges the status reports its front queued.

A thread of its own (a pykka actor the dispatcher starts and stops), so that reports wait
for the store's lock here, one read for every report queued meanwhile, and neither on the
endpoint's handler threads (heartbeats would queue behind them) nor on the dispatcher
(its tick sends the assignments). Each wake-up judges everything queued (front.py) and,
when there was any, tells the dispatcher (``judged``): the accepted statuses wait for its
tick, which comes at once after a quiet period.

A wake-up that raises ends the intake, and it tells the dispatcher (``failed``), which
crashes on it so that its supervisor starts it again with a new intake: the reports
queued after waited unanswered while the dispatcher ran on without its intake.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Final

import pykka

from actors.dispatcher.front import DispatcherFront

__all__ = ["WAKE", "StatusIntake"]

WAKE: Final = "wake"


class StatusIntake(pykka.ThreadingActor):
    def __init__(
        self,
        front: DispatcherFront,
        judged: Callable[[], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        super().__init__()
        self._front = front
        self._judged = judged
        self._failed = failed

    def on_receive(self, message: object) -> None:
        if message == WAKE and self._front.judge_reports():
            self._judged()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exception_value is not None:
            self._failed(exception_value)
