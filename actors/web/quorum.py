"""Whether the page can trust this manager's copy of the cluster: does it know a leader?

A manager that has lost its Raft leader keeps its store as it last was: nodes it can no
longer see still show Ready, and a dead leader still shows Leader. The control API refuses
cluster reads then (actors/control/readiness.py); the page cannot refuse, so it says so,
above the rows it keeps. It says so from the same point: a manager that has known no leader
for `LEADERLESS_SETTLED` seconds (a brief election shows nothing), or whose Raft member is
not running yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from actors.control.readiness import LEADERLESS_SETTLED, NO_LEADER_MESSAGE

__all__ = ["LEADER_KNOWN", "STALE_NOTE", "Quorum", "quorum_of"]

STALE_NOTE: Final = (
    "This page shows this manager's last copy of the cluster: it may be out of date."
)


@dataclass(frozen=True, slots=True)
class Quorum:
    """``leader``: a leader is known (or was lost too recently to say); ``message`` says
    why the page may be stale when not."""

    leader: bool
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"leader": self.leader, "message": self.message}


LEADER_KNOWN: Final = Quorum(True)


def quorum_of(leaderless_for: float | None) -> Quorum:
    """From the seconds this manager's Raft member has known no leader (None: the member
    is not running yet)."""
    if leaderless_for is None:
        return Quorum(False, f"This manager's Raft member is not running yet. {STALE_NOTE}")
    if leaderless_for >= LEADERLESS_SETTLED:
        return Quorum(False, f"{NO_LEADER_MESSAGE} {STALE_NOTE}")
    return LEADER_KNOWN
