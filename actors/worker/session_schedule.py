"""What the agent's session loop keeps between its turns, sans I/O: when the next heartbeat
is due, when status batches may go, the frames received against those the manager said
it streamed, and the TLS report the manager holds (the loop: actors/worker/agent_loop.py;
the rules behind the numbers: actors/worker/session.py).

Rules:
- A heartbeat is due a period after the session's first frame, then a period (the one its
  reply names) after each heartbeat answered; one answered ``busy`` is made again
  ``BUSY_RETRY`` later.
- At each heartbeat due, the frames received so far (each part of a full set in parts
  counted) are checked against the count the manager gave at the heartbeat before, a
  whole period later (`lost_frames`): fewer means frames were lost and the session is
  reopened.
- The node's TLS report (the certificate it uses: actors/ca/tls_info.py) goes in the
  session request, and again with the next heartbeat once it differs from the one the
  manager holds; the manager holds it once a heartbeat that carried it was answered. A
  root CA rotation completes by these reports, never by what its CA wrote in the store.
- A status batch answered ``busy`` or not in time holds the next one back ``BUSY_RETRY``
  (the fleet's simulated nodes also hold each next batch back a flush interval).
- The loop waits for a frame until the next heartbeat is due, or until the statuses
  waiting may go, whichever comes first.
"""

from __future__ import annotations

from actors.worker.session import BUSY_RETRY, lost_frames
from api.objects import NodeTLSInfo

__all__ = ["SessionSchedule"]


class SessionSchedule:
    """One session's schedule (the module's rules); the caller passes the time."""

    __slots__ = ("expected", "next_beat", "received", "reported_tls", "statuses_after")

    def __init__(
        self, now: float, period: float, tls: NodeTLSInfo | None, received: int = 1
    ) -> None:
        """``received``: the frames the session's first took (a full set's parts)."""
        self.next_beat = now + period
        self.statuses_after = 0.0  # when a status batch may go
        self.received = received  # the session's frames so far
        self.expected = 0  # frames the manager had streamed at the previous heartbeat
        self.reported_tls = tls  # what the manager holds: the session request's report

    def wait(self, now: float, statuses_waiting: bool) -> float:
        """Seconds until the loop has something to do (``statuses_waiting``: statuses are
        queued and no batch is in flight)."""
        wait = self.next_beat - now
        if statuses_waiting:
            wait = min(wait, max(0.0, self.statuses_after - now))
        return wait

    def frame_received(self, count: int = 1) -> None:
        self.received += count

    def beat_due(self, now: float) -> bool:
        return now >= self.next_beat

    def lost_frames(self) -> str | None:
        """Why the session must be reopened at this heartbeat (None: no frame lost)."""
        return lost_frames(self.received, self.expected)

    def tls_report(self, current: NodeTLSInfo | None) -> NodeTLSInfo | None:
        """The report the next heartbeat carries: ``current`` when it differs from the one
        the manager holds, else None."""
        return current if current != self.reported_tls else None

    def beat_answered(
        self, now: float, period: float, expected: int, tls: NodeTLSInfo | None
    ) -> None:
        """A heartbeat that carried ``tls`` (the node's current report) was answered with
        the next ``period`` and the ``expected`` frames streamed so far."""
        self.next_beat = now + period
        self.expected = expected
        self.reported_tls = tls  # reported: the manager took it with the beat

    def beat_busy(self, now: float) -> None:
        self.next_beat = now + BUSY_RETRY

    def statuses_busy(self, now: float) -> None:
        self.hold_statuses(now, BUSY_RETRY)

    def hold_statuses(self, now: float, seconds: float) -> None:
        """The next status batch waits ``seconds`` from ``now``."""
        self.statuses_after = now + seconds

    def statuses_may_go(self, now: float) -> bool:
        return now >= self.statuses_after
