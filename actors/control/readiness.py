"""Control calls made while a manager starts wait until it can serve them.

A manager's control socket answers as soon as its endpoints are up, but it can serve the
cluster only once its Raft member runs, a leader is known and the store holds the Cluster
object (created by the first leader at init, replayed from the log or caught up from the
leader otherwise; with it come the CA's root and the join tokens). Before that a call
would fail ("the cluster is not initialized yet", "no such cluster", no leader for a
write) or answer from an empty store (``node ls`` without the node itself).

`startup_gap` (pure) names what is still starting. `ReadinessGate` holds each control
call until nothing is, rechecking every ``recheck`` seconds (three cheap reads) for at most
``wait`` seconds, which is less than swarmctl's 10 s timeout so that the refusal reaches
the user: ``unavailable``, naming what is still starting. Once ready the gate stays open
for the node's life and costs one attribute read: a later election is the writes' own
business (actors/control/writes.py retries them), reads keep being served from the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from actors.control.errors import ControlCode, ControlError
from transport.endpoint import Handler, Request

__all__ = ["READY_WAIT", "ReadinessGate", "StartupState", "startup_gap"]

READY_WAIT: Final = 8.0  # seconds a call made during start-up waits (swarmctl waits 10)
RECHECK: Final = 0.02


@dataclass(frozen=True, slots=True)
class StartupState:
    raft_running: bool
    leader_id: int  # 0: no leader known
    has_cluster: bool  # the store holds the Cluster object


def startup_gap(state: StartupState) -> str | None:
    """What the manager still waits for before it can serve control calls, or None."""
    if not state.raft_running:
        return "its Raft member is not running yet"
    if not state.leader_id:
        return "no Raft leader is known yet (an election is under way, or no quorum)"
    if not state.has_cluster:
        return "the store does not hold the cluster object yet (the leader creates it at init)"
    return None


class ReadinessGate:
    """Holds control calls until ``probe()`` shows nothing still starting."""

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
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self) -> None:
        """Return once the manager can serve; ControlError ``unavailable`` after ``wait``."""
        if self._ready.is_set():
            return
        deadline = self._clock() + self._wait
        while (gap := startup_gap(self._probe())) is not None:
            left = deadline - self._clock()
            if left <= 0:
                raise ControlError(
                    ControlCode.UNAVAILABLE,
                    f"this manager is still starting: {gap} (waited {self._wait:g}s); retry",
                )
            self._sleep(min(left, self._recheck))
        self._ready.set()

    def guard(self, table: Mapping[str, Handler]) -> dict[str, Handler]:
        """``table`` with every handler waiting for readiness first (on the handler pool:
        the result is never an inline handler)."""
        return {name: self._guarded(handler) for name, handler in table.items()}

    def _guarded(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Mapping[str, Any] | None:
            try:
                self.wait_ready()
            except ControlError as err:
                request.error(err.code, err.message)
                return None
            return handler(request)

        guarded.__name__ = getattr(handler, "__name__", "handler")
        guarded.__doc__ = handler.__doc__
        return guarded
