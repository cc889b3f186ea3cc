"""Session opens: what the dispatcher does with a chunk of the opens its front queued.

- One store read for the whole chunk: each node as stored, the store's version, and each
  node's tasks (a read per open made a thousand waits for the store's lock after a
  leader change).
- A node the store does not hold (never joined, or removed) is refused ``unauthorized``
  (callers.py): a session never creates a Node.
- Each other node's session is opened in the core (under the lock it shares with the
  front), with what its request says the node takes: the shared specs table, a full set
  in parts, the routing mesh's table as changes (wire.py, ingress_changes.py).
- A node whose creation the store's watch has not brought yet (it joined just before)
  gets its role as this read found it, so its first frame names it, as SwarmKit's first
  session message carries the node read at the open; the watch's event for it then
  changes nothing, and no frame of its own follows.
- Then every opened session's first frame, its full assignment set, goes out together
  (streams.py), before the dispatcher takes the next chunk (actor.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from actors.dispatcher.assignments import Delta
from actors.dispatcher.callers import UNAUTHORIZED, check_session_node
from actors.dispatcher.core import DispatcherCore
from actors.dispatcher.front import DispatcherFront, SessionOpen
from actors.dispatcher.ingress_changes import reads_changes
from actors.dispatcher.sessions import Session
from actors.dispatcher.spec_tables import SentSpecs
from actors.dispatcher.streams import SessionStreams
from actors.dispatcher.wire import ManagerAddress, reads_shared_specs, takes_sets_in_parts
from actors.log import get_logger
from actors.store import MemoryStore
from actors.store import nodes as node_queries
from actors.store import tasks as task_queries

__all__ = ["SessionOpener"]

_log = get_logger("dispatcher")


class SessionOpener:
    def __init__(
        self,
        store: MemoryStore,
        core: DispatcherCore,
        front: DispatcherFront,
        streams: SessionStreams,
        managers: Callable[[], Sequence[ManagerAddress]],
        clock: Callable[[], float],
    ) -> None:
        """``managers``: the manager list the first frames name, read once per chunk."""
        self._store = store
        self._core = core  # under the front's lock
        self._front = front
        self._streams = streams
        self._managers = managers
        self._clock = clock

    def open(self, opens: Sequence[SessionOpen]) -> int:
        """Open a chunk of queued sessions and send each its full set; how many opened."""
        if not opens:
            return 0
        self._streams.set_managers(tuple(self._managers()))
        ids = [o.node_id for o in opens]
        found, version, assigned = self._store.view(
            lambda tx: (
                {i: node_queries.get(tx, i) for i in ids},
                tx.version,
                {i: task_queries.by_node(tx, i) for i in ids},
            )
        )
        now = self._clock()
        opened: list[tuple[Session, Delta]] = []
        for opening in opens:
            node_id, request = opening.node_id, opening.request
            node = found[node_id]
            refusal = check_session_node(node_id, node)
            if refusal is not None:
                _log.warning("dispatcher.session.refused", peer_node=node_id, reason=refusal)
                request.error(UNAUTHORIZED, refusal)
                continue
            assert node is not None  # check_session_node refuses a node the store lacks
            self._front.roles.setdefault(node_id, node.role.value)
            with self._front.lock:
                session = self._core.open_session(
                    now,
                    node_id,
                    request.peer_key,
                    opening.description,
                    opening.addr,
                    version,
                    assigned[node_id],
                )
                session.handle = request
                if reads_shared_specs(request.body):
                    session.sent_specs = SentSpecs()
                session.takes_parts = takes_sets_in_parts(request.body)
                self._streams.ingress.opened(session.session_id, reads_changes(request.body))
                opened.append((session, session.assignments.full()))
        self._streams.send_all(opened)
        return len(opened)
