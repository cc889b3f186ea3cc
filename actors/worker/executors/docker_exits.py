"""What the engine's event stream says about waited containers: the pure part of the
Docker executor's one exit watch (docker_exit_watch.py).

Rules:
- A watch is one wait of one container, by id, and fires once: on the container's
  ``die`` (with the event's exit code), its ``destroy`` (removed), or a
  ``health_status: unhealthy``; or when a listing of this node's containers, taken after
  the stream (re)connected, shows it stopped or gone (events lost while the stream was
  down). The watch is removed when it fires, and its ``Wake`` only says "look again"
  (the controller inspects); the die's exit code is kept for a container removed before
  it could be inspected (``docker rm -f``).
- A container restarted under its id (``docker restart``) fires its watch on the die:
  the controller's look finds it running and watches again.
- The stream asks only for what wakes (``events_filters``), of this node's containers.
- Events come from the local engine, but are read defensively: anything that is not a
  container event of a known action is ignored, never an error.
- Pure: no threads, no clock, no engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from actors.worker.executors.docker_config import LABEL_NODE_ID

__all__ = [
    "RUNNING_STATES",
    "ContainerEvent",
    "ExitWatches",
    "Wake",
    "events_filters",
    "parse_event",
    "running_ids",
]

# what the engine's listing calls a container still running (docker.py's _STATES)
RUNNING_STATES = frozenset({"running", "paused", "restarting"})
_WAKING = ("die", "destroy", "health_status: unhealthy")

N = TypeVar("N")


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    container_id: str
    action: str  # one of _WAKING
    exit_code: int | None = None  # a die's


@dataclass(frozen=True, slots=True)
class Wake:
    """Why a watch fired: look at the container again. ``exit_code``: a die's;
    ``error``: the watch itself failed (a bug, not the engine), for the runner to crash
    on."""

    exit_code: int | None = None
    error: BaseException | None = None


def events_filters(node_id: str) -> dict[str, list[str]]:
    """The engine's events filter for the wakes of node ``node_id``'s containers
    (``health_status`` matches its ``health_status: *`` actions)."""
    return {
        "type": ["container"],
        "label": [f"{LABEL_NODE_ID}={node_id}"],
        "event": ["die", "destroy", "health_status"],
    }


def parse_event(raw: object) -> ContainerEvent | None:
    """A decoded event of the stream as a `ContainerEvent`; None when it wakes nothing."""
    if not isinstance(raw, Mapping) or raw.get("Type") != "container":
        return None
    action = raw.get("Action")
    actor = raw.get("Actor")
    if action not in _WAKING or not isinstance(actor, Mapping):
        return None
    container_id = actor.get("ID")
    if not isinstance(container_id, str) or not container_id:
        return None
    exit_code = None
    if action == "die":
        attributes = actor.get("Attributes")
        code = attributes.get("exitCode") if isinstance(attributes, Mapping) else None
        if isinstance(code, str) and code.lstrip("-").isdigit():
            exit_code = int(code)
    return ContainerEvent(container_id, str(action), exit_code)


def running_ids(listing: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The ids of the running containers in an engine listing (``GET /containers/json``)."""
    return frozenset(
        str(c["Id"]) for c in listing if c.get("Id") and c.get("State") in RUNNING_STATES
    )


class ExitWatches(Generic[N]):
    """The open watches: key → (container id, notify). ``N`` is what the caller calls with
    a `Wake`; the book only hands it back."""

    def __init__(self) -> None:
        self._next = 0
        self._watches: dict[int, tuple[str, N]] = {}
        self._by_container: dict[str, set[int]] = {}

    def __len__(self) -> int:
        return len(self._watches)

    def add(self, container_id: str, notify: N) -> int:
        self._next += 1
        self._watches[self._next] = (container_id, notify)
        self._by_container.setdefault(container_id, set()).add(self._next)
        return self._next

    def pop(self, key: int) -> N | None:
        """Remove watch ``key``; its notify, or None if it fired or was cancelled."""
        found = self._watches.pop(key, None)
        if found is None:
            return None
        container_id, notify = found
        keys = self._by_container[container_id]
        keys.discard(key)
        if not keys:
            del self._by_container[container_id]
        return notify

    def on_event(self, event: ContainerEvent) -> list[tuple[N, Wake]]:
        """The watches ``event`` fires, removed, each with its wake."""
        wake = Wake(exit_code=event.exit_code)
        return [(n, wake) for n in self._pop_container(event.container_id)]

    def on_listing(self, running: frozenset[str]) -> list[tuple[N, Wake]]:
        """The watches whose container is not among ``running`` (a listing taken after
        the stream connected), removed."""
        stopped = [c for c in self._by_container if c not in running]
        return [(n, Wake()) for c in stopped for n in self._pop_container(c)]

    def fail_all(self, error: BaseException) -> list[tuple[N, Wake]]:
        """Every watch, removed, with ``error``: watching failed."""
        wake = Wake(error=error)
        return [(n, wake) for c in list(self._by_container) for n in self._pop_container(c)]

    def _pop_container(self, container_id: str) -> list[N]:
        keys = self._by_container.pop(container_id, set())
        return [self._watches.pop(k)[1] for k in sorted(keys)]
