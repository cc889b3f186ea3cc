"""The dispatcher's status intake: judges the status reports its front queued.

A thread of its own (a pykka actor the dispatcher starts and stops), so that reports wait
for the store's lock here, one read for every report queued meanwhile, and neither on the
endpoint's handler threads (heartbeats would queue behind them) nor on the dispatcher
(its tick sends the assignments). Each wake-up judges everything queued (front.py) and,
when there was any, tells the dispatcher (``judged``): the accepted statuses wait for its
tick, which comes at once after a quiet period.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pykka

from actors.dispatcher.front import DispatcherFront

__all__ = ["WAKE", "StatusIntake"]

WAKE: Final = "wake"


class StatusIntake(pykka.ThreadingActor):
    def __init__(self, front: DispatcherFront, judged: Callable[[], None]) -> None:
        super().__init__()
        self._front = front
        self._judged = judged

    def on_receive(self, message: object) -> None:
        if message == WAKE and self._front.judge_reports():
            self._judged()
