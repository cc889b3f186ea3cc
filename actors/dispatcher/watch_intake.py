"""The dispatcher's intake of the store's committed changes: what it reads at its start,
the watch it keeps from there, and a drain of that watch each tick.

- A drain reads the events (store_changes.py says what each means), carries out the
  core's changes in commit order, then hands the tasks' changes to the core in chunks of
  ``OBSERVE_CHUNK``, one hold of the core's lock each (a heartbeat waits at most one
  chunk), and leaves the rest for the tick's notices (notices.py).
- A watch the store closed (it fell behind, or the store was restored from a snapshot)
  is read again whole: every session's set from the store as it is now, sent full; a
  session of a node no longer stored is closed; the routing mesh's table is computed
  again. The new watch wakes the dispatcher as the first did (``notify``); the one a
  resync opened did not, and changes waited for the periodic tick from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Final, TypeVar

from actors.dispatcher.assignments import AssignmentSet
from actors.dispatcher.core import DispatcherCore
from actors.dispatcher.front import DispatcherFront
from actors.dispatcher.notices import SessionNotices
from actors.dispatcher.store_changes import (
    NodeRemoved,
    PeriodChanged,
    ServiceDeleted,
    ServiceRemoving,
    StoreChanges,
    chunks,
    read_changes,
)
from actors.dispatcher.streams import SessionStreams
from actors.log import get_logger
from actors.store import MemoryStore, ReadTx, WatchClosed, Watcher, clusters
from actors.store import nodes as node_queries
from actors.store import services as service_queries
from actors.store import tasks as task_queries
from api.objects import Node, ObjectKind, Task

__all__ = ["OBSERVE_CHUNK", "StoreWatch"]

_log = get_logger("dispatcher")
T = TypeVar("T")

# committed task changes handed to the core per hold of its lock
OBSERVE_CHUNK: Final = 2000
_WATCHED: Final = frozenset(
    {ObjectKind.TASK, ObjectKind.NODE, ObjectKind.CLUSTER, ObjectKind.SERVICE}
)


class StoreWatch:
    def __init__(
        self,
        store: MemoryStore,
        core: DispatcherCore,
        front: DispatcherFront,
        streams: SessionStreams,
        notices: SessionNotices,
        notify: Callable[[], None],
    ) -> None:
        """``notify``: called on the store's thread when changes were committed."""
        self._store = store
        self._core = core  # under the front's lock once the front is attached
        self._front = front
        self._streams = streams
        self._notices = notices
        self._notify = notify
        self._watcher: Watcher | None = None

    def start(self) -> list[Node]:
        """Read the nodes' roles, the heartbeat period and the services being removed, and
        watch from there on; the nodes, for the core's start."""
        known, period, removing = self._read_and_watch(
            lambda tx: (node_queries.list_all(tx), _period(tx), _removed_services(tx))
        )
        self._core.removed_services.update(removing)
        if period is not None:
            self._core.set_config(replace(self._core.config, period=period))
        self._front.roles.update((n.id, n.role.value) for n in known)
        return known

    def _read_and_watch(self, read: Callable[[ReadTx], T]) -> T:
        """``read`` the store and watch the changes after it, each commit ``notify``-ing."""
        found, self._watcher = self._store.view_and_watch(
            read, kinds=_WATCHED, grows=True, notify=self._notify
        )
        return found

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()

    def drain(self) -> int:
        """Take in the committed changes; how many (-1: resynced, every session sent its
        full set)."""
        watcher = self._watcher
        if watcher is None:
            return 0
        try:
            events = watcher.poll()
        except WatchClosed as exc:
            self._resync(exc.reason)
            return -1
        changes = read_changes(
            events, self._front.roles, self._core.config.period, self._notices.ingress
        )
        self._carry_out(changes)
        self._notices.note(changes)
        return len(events)

    def _carry_out(self, changes: StoreChanges) -> None:
        lock, core = self._front.lock, self._core
        for change in changes.core:
            with lock:
                if isinstance(change, NodeRemoved):
                    core.node_removed(change.node_id)
                elif isinstance(change, ServiceDeleted):
                    core.service_deleted(change.service_id)
                elif isinstance(change, ServiceRemoving):
                    core.service_removed(change.service_id)
                elif isinstance(change, PeriodChanged):
                    core.set_config(replace(core.config, period=change.period))
            if isinstance(change, PeriodChanged):
                _log.info("dispatcher.heartbeat_period.changed", heartbeat_period=change.period)
        for chunk in chunks(changes.tasks, OBSERVE_CHUNK):
            with lock:
                core.observe(chunk)

    def _resync(self, reason: str) -> None:
        _log.warning("dispatcher.watch.reset", reason=reason)
        self._notices.ingress.dirty = True
        sessions = self._front.sessions()

        def read(
            tx: ReadTx,
        ) -> tuple[int, dict[str, list[Task]], dict[str, str], list[str]]:
            assigned = {s.node_id: task_queries.by_node(tx, s.node_id) for s in sessions}
            roles = {n.id: n.role.value for n in node_queries.list_all(tx)}
            return tx.version, assigned, roles, _removed_services(tx)

        version, assigned, known, removing = self._read_and_watch(read)
        self._front.roles = known
        with self._front.lock:
            self._core.removed_services.clear()
            self._core.removed_services.update(removing)
        for session in sessions:
            with self._front.lock:
                if session.node_id not in known:
                    self._core.node_removed(session.node_id)
                    continue
                session.assignments = AssignmentSet(
                    session.node_id,
                    version,
                    assigned.get(session.node_id, []),
                    self._core.removed_services,
                )
                full = session.assignments.full()
            self._streams.send(session, full)


def _period(tx: ReadTx) -> float | None:
    cluster = clusters.get_default(tx)
    return cluster.spec.dispatcher.heartbeat_period if cluster is not None else None


def _removed_services(tx: ReadTx) -> list[str]:
    """The services whose removal was committed (their tasks are told REMOVE)."""
    return [s.id for s in service_queries.list_all(tx) if s.pending_delete]
