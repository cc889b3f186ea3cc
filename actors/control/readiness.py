"""Control calls wait until the manager can serve them: at start-up, and whenever no Raft
leader is known.

A manager's control socket answers as soon as its endpoints are up, but it can serve the
cluster only once its Raft member runs, a leader is known and the store holds the Cluster
object (created by the first leader at init, replayed from the log or caught up from the
leader otherwise; with it come the CA's root and the join tokens). Before that a call
would fail ("the cluster is not initialized yet", "no such cluster", no leader for a
write) or answer from an empty store (``node ls`` without the node itself).

Once started, a manager that knows no leader (an election is under way, or too few
managers are online) must not answer from its store either: nothing commits without a
leader, so what it holds may be long stale (``node ls`` would show a dead leader as
``Ready / Leader``). As in SwarmKit, where every control call on a follower is proxied to
the leader and fails without one, such calls are refused with Docker's words
(`NO_LEADER_MESSAGE`, code ``no_leader``). Served without a leader (`SERVED_WITHOUT_LEADER`):
``version`` (this node's own view), ``control.unlock`` (this node's own keys), the log calls
(relayed to the leader's broker, which refuse on their own with codes the log follower
retries on) and ``control.events`` (the committed changes this manager holds: history,
true whatever happens next).

`serving_gap` (pure) says why a call cannot be served now. `ReadinessGate` holds each call
while there is a gap, rechecking every ``recheck`` seconds (three cheap reads) for at most
``wait`` seconds, which is less than swarmctl's 10 s timeout so that the refusal reaches
the user: an election usually ends well within it. A member that has known no leader for
`LEADERLESS_SETTLED` seconds has lost quorum, not an election: its calls are refused at
once, as SwarmKit's. Until the first time nothing was
missing every call waits for the whole start-up (refused ``unavailable``, naming what is
still starting); from then on a call that is served without a leader costs one attribute
read, the others one probe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from actors.control.errors import ControlCode, ControlError
from transport.endpoint import Handler, Request

__all__ = [
    "LEADERLESS_SETTLED",
    "LOST_QUORUM",
    "NO_LEADER_MESSAGE",
    "READY_WAIT",
    "SERVED_WITHOUT_LEADER",
    "ReadinessGate",
    "ServingGap",
    "StartupState",
    "needs_leader",
    "serving_gap",
    "startup_gap",
]

READY_WAIT: Final = 8.0  # seconds a call waits for start-up or a leader (swarmctl waits 10)
# no leader for this long: not an election (1-2 s here) but lost quorum; refused at once
LEADERLESS_SETTLED: Final = 5.0
RECHECK: Final = 0.02

# Docker's words (SwarmKit's manager/state/raft errLostQuorum), which users and scripts know
NO_LEADER_MESSAGE: Final = (
    "The swarm does not have a leader. It's possible that too few managers are online. "
    "Make sure more than half of the managers are online."
)

SERVED_WITHOUT_LEADER: Final = frozenset(
    {
        "version",
        "control.unlock",
        "control.logs.subscribe",
        "control.logs.read",
        "control.logs.close",
        "control.events",
    }
)


@dataclass(frozen=True, slots=True)
class StartupState:
    raft_running: bool
    leader_id: int  # 0: no leader known
    has_cluster: bool  # the store holds the Cluster object
    leaderless_for: float = 0.0  # seconds the Raft member has known no leader


@dataclass(frozen=True, slots=True)
class ServingGap:
    """Why a call cannot be served now: ``starting`` (what is missing) or no leader."""

    starting: str | None  # None: started, but no leader is known
    settled: bool = False  # no leader for so long that waiting would not find one

    def refusal(self, waited: float) -> ControlError:
        if self.starting is None:
            return ControlError(ControlCode.NO_LEADER, NO_LEADER_MESSAGE)
        return ControlError(
            ControlCode.UNAVAILABLE,
            f"this manager is still starting: {self.starting} (waited {waited:g}s); retry",
        )


NO_LEADER: Final = ServingGap(None)
LOST_QUORUM: Final = ServingGap(None, settled=True)


def startup_gap(state: StartupState) -> str | None:
    """What the manager still waits for before it can serve control calls, or None."""
    if not state.raft_running:
        return "its Raft member is not running yet"
    if not state.leader_id:
        return "no Raft leader is known yet (an election is under way, or no quorum)"
    if not state.has_cluster:
        return "the store does not hold the cluster object yet (the leader creates it at init)"
    return None


def needs_leader(call: str) -> bool:
    """Whether ``call`` serves or changes cluster state, which only a known leader makes
    current: every control call but `SERVED_WITHOUT_LEADER` (new calls included)."""
    return call not in SERVED_WITHOUT_LEADER


def serving_gap(call: str, state: StartupState, *, started: bool) -> ServingGap | None:
    """Why ``call`` cannot be served in ``state``, or None. Until the manager has
    ``started`` (nothing missing once) every call waits for the whole start-up; from then
    on only the calls that need a leader, for a known leader."""
    if not started:
        gap = startup_gap(state)
        return None if gap is None else ServingGap(gap)
    if needs_leader(call) and not state.leader_id:
        return LOST_QUORUM if state.leaderless_for >= LEADERLESS_SETTLED else NO_LEADER
    return None


class ReadinessGate:
    """Holds control calls while `serving_gap` names a gap in ``probe()``'s state."""

    def __init__(
        self,
        probe: Callable[[], StartupState],
        *,
        wait: float = READY_WAIT,
        recheck: float = RECHECK,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._probe = probe
        self._wait = wait
        self._recheck = recheck
        self._clock = clock
        self._sleep = sleep
        self._started = threading.Event()

    @property
    def ready(self) -> bool:
        """Whether the manager has started (it may know no leader at the moment)."""
        return self._started.is_set()

    def admit(self, call: str) -> None:
        """Return once ``call`` can be served; its `ControlError` after ``wait`` seconds."""
        started = self._started.is_set()
        if started and not needs_leader(call):
            return
        deadline = self._clock() + self._wait
        while (gap := serving_gap(call, self._probe(), started=started)) is not None:
            left = deadline - self._clock()
            if left <= 0 or gap.settled:
                raise gap.refusal(self._wait)
            self._sleep(min(left, self._recheck))
        if not started:
            self._started.set()

    def guard(self, table: Mapping[str, Handler]) -> dict[str, Handler]:
        """``table`` with every handler admitted first (on the handler pool: the result is
        never an inline handler)."""
        return {name: self._guarded(name, handler) for name, handler in table.items()}

    def _guarded(self, call: str, handler: Handler) -> Handler:
        def guarded(request: Request) -> Mapping[str, Any] | None:
            try:
                self.admit(call)
            except ControlError as err:
                request.error(err.code, err.message)
                return None
            return handler(request)

        guarded.__name__ = getattr(handler, "__name__", "handler")
        guarded.__doc__ = handler.__doc__
        return guarded
