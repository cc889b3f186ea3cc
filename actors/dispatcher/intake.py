"""The dispatcher's status intake: judges the status reports its front queued.

A thread of its own (a pykka actor the dispatcher starts and stops), so that reports wait
for the store's lock here, one read for every report queued meanwhile, and neither on the
endpoint's handler threads (heartbeats would queue behind them) nor on the dispatcher
(its tick sends the assignments). Each wake-up judges everything queued (front.py).
"""

from __future__ import annotations

from typing import Final

import pykka

from actors.dispatcher.front import DispatcherFront

__all__ = ["WAKE", "StatusIntake"]

WAKE: Final = "wake"


class StatusIntake(pykka.ThreadingActor):
    def __init__(self, front: DispatcherFront) -> None:
        super().__init__()
        self._front = front

    def on_receive(self, message: object) -> None:
        if message == WAKE:
            self._front.judge_reports()
