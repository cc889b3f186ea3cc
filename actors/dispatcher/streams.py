"""The sessions' streams: building each session's frames and sending them.

A frame carries the session's delta (the full set or changes, assignments.py), what its
tasks need (networks and registry credentials: networks_and_auth.py), the secrets and
configs to send or drop, and the manager list (read once per tick by the dispatcher, not
per frame: reading it lists every node) and the node's role (kept by the front from the
store's watch) on the session's first frame and when it changed since the session's last
(``managers_to_send``, ``role_to_send``; a changed list or role goes in a frame of its
own to a session sent no other frame: notices.py). The networks and credentials of all
the frames sent together are read in one store view. A frame's body over ``frame_bytes``
goes as several (frame_packing.py: a full set in parts to a node that assembles one). A
frame that cannot be encoded ends the session (the core closes it, under the lock the
dispatcher shares with its front), naming why: a full set over the frame limit to a node
of an earlier version, which takes a set in one frame only, or one in more parts than a
node takes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence

from actors.dispatcher.assignments import Delta
from actors.dispatcher.core import DispatcherCore
from actors.dispatcher.dependencies import DependencyChanges
from actors.dispatcher.frame_packing import pack_parts
from actors.dispatcher.ingress_changes import IngressFeed
from actors.dispatcher.networks_and_auth import Dependencies, dependencies_of
from actors.dispatcher.sessions import Session
from actors.dispatcher.wire import (
    ASSIGNMENT_BYTES_PER_FRAME,
    ManagerAddress,
    SessionFrame,
    encode_frame,
    split_frame,
)
from actors.log import get_logger
from actors.store import MemoryStore, ReadTx
from actors.store import configs as config_queries
from actors.store import networks as network_queries
from actors.store import secrets as secret_queries
from actors.store import services as service_queries
from api.errors import CodecError
from api.objects import Config, Network, Secret, Service, Task
from transport.endpoint import Request

__all__ = ["SessionStreams"]

_log = get_logger("dispatcher")


class SessionStreams:
    def __init__(
        self,
        store: MemoryStore,
        core: DispatcherCore,
        lock: threading.Lock,
        roles: Callable[[], Mapping[str, str]] = dict,
        frame_bytes: int = ASSIGNMENT_BYTES_PER_FRAME,
    ) -> None:
        """``roles``: the nodes' roles as committed, by node id (the front's);
        ``frame_bytes``: the body a frame carries at most (frame_packing.py)."""
        self._store = store
        self._frame_bytes = frame_bytes
        self._core = core
        self._lock = lock  # the core's (front.py)
        self._roles = roles
        self.managers: tuple[ManagerAddress, ...] = ()
        self.ingress = IngressFeed()  # the routing mesh's table (ingress_changes.py)

    def set_managers(self, managers: tuple[ManagerAddress, ...]) -> None:
        """The manager list as read now; the one held stays when equal, so a session's
        frames compare it by identity (``managers_to_send``)."""
        if managers != self.managers:
            self.managers = managers

    def managers_to_send(self, session: Session) -> tuple[ManagerAddress, ...]:
        """The list the session's next frame names: all of it on the session's first frame
        and when it changed since its last, else none (the agent keeps the list it has:
        actors/worker/agent.py). Frames carry about one task each in a ramp; the list was
        a quarter of each frame's bytes (243 of 1,066), encoded, encrypted, decoded and
        checked again."""
        managers = self.managers
        if session.managers_sent is managers:
            return ()
        session.managers_sent = managers
        return managers

    def role_to_send(self, session: Session) -> str | None:
        """The role the session's next frame names: its node's role on the session's
        first frame and when it changed since its last, else None."""
        role = self._roles().get(session.node_id, "")
        if not role or role == session.role_sent:
            return None
        session.role_sent = role
        return role

    def frame(
        self,
        session: Session,
        delta: Delta,
        closed: str | None = None,
        needs: Dependencies | None = None,
    ) -> SessionFrame:
        if needs is None:  # (not "needs or": an empty one is falsy, and common)
            needs = Dependencies()
        deps = delta.dependencies
        secrets, configs = self.read_dependencies(session, deps)
        ingress, mesh = self.ingress.to_send(session.session_id) if closed is None else (None, None)
        return SessionFrame(
            session_id=session.session_id,
            heartbeat_period=session.period,
            managers=self.managers_to_send(session),
            full=delta.full,
            tasks=delta.tasks,
            removed=delta.removed,
            closed=closed,
            networks=needs.networks,
            registry_auths=needs.registry_auths,
            secrets=secrets,
            secrets_removed=deps.secrets_removed,
            configs=configs,
            configs_removed=deps.configs_removed,
            ingress=ingress,
            mesh=mesh,
            role=self.role_to_send(session) if closed is None else None,
        )

    def read_dependencies(
        self, session: Session, deps: DependencyChanges
    ) -> tuple[tuple[Secret, ...], tuple[Config, ...]]:
        """The secrets and configs to send, as stored now; one deleted meanwhile (its
        service changed, then ``rm``) is left out: a task that still needs it fails."""
        if not deps.secrets and not deps.configs:
            return (), ()
        found_secrets, found_configs = self._store.view(
            lambda tx: (
                [secret_queries.get(tx, i) for i in deps.secrets],
                [config_queries.get(tx, i) for i in deps.configs],
            )
        )
        secrets = tuple(s for s in found_secrets if s is not None)
        configs = tuple(c for c in found_configs if c is not None)
        if len(secrets) < len(deps.secrets) or len(configs) < len(deps.configs):
            _log.warning(
                "dispatcher.dependencies.missing",
                peer_node=session.node_id,
                missing={
                    "secrets": sorted(set(deps.secrets) - {s.id for s in secrets}),
                    "configs": sorted(set(deps.configs) - {c.id for c in configs}),
                },
            )
        if secrets or configs:
            _log.info(  # ids only, never the data (and no key that logs redact: "secret")
                "dispatcher.dependencies.sent",
                peer_node=session.node_id,
                sent={"secrets": [s.id for s in secrets], "configs": [c.id for c in configs]},
            )
        return secrets, configs

    def dependencies(self, tasks: Sequence[Task], *, auth_only: bool = False) -> Dependencies:
        if not tasks:
            return Dependencies()
        return self._store.view(
            lambda tx: dependencies_of(
                tasks,
                lambda i: network_queries.get(tx, i),
                lambda i: service_queries.get(tx, i),
                auth_only=auth_only,
            )
        )

    def send_all(self, deltas: Sequence[tuple[Session, Delta]]) -> None:
        """Each session its delta, with what its tasks need read in one store view for
        them all: a read per frame made a thousand waits for the store's lock a tick."""
        if not any(delta.tasks for _, delta in deltas):
            needs = [Dependencies() for _ in deltas]
        else:

            def read(tx: ReadTx) -> list[Dependencies]:
                def network(i: str) -> Network | None:
                    return network_queries.get(tx, i)

                def service(i: str) -> Service | None:
                    return service_queries.get(tx, i)

                return [
                    dependencies_of(delta.tasks, network, service)
                    if delta.tasks
                    else Dependencies()
                    for _, delta in deltas
                ]

            needs = self._store.view(read)
        for (session, delta), need in zip(deltas, needs, strict=True):
            self.send(session, delta, need)

    def send(self, session: Session, delta: Delta, needs: Dependencies | None = None) -> None:
        request = session.handle
        if not isinstance(request, Request):
            return
        if needs is None:
            needs = self.dependencies(delta.tasks)
        try:
            for frame in split_frame(self.frame(session, delta, needs=needs)):
                bodies = pack_parts(
                    frame, session.sent_specs, self._frame_bytes, in_parts=session.takes_parts
                )
                if len(bodies) > 1:
                    _log.info(
                        "dispatcher.session.frame_cut",
                        peer_node=session.node_id,
                        full=frame.full,
                        tasks=len(frame.tasks),
                        removed=len(frame.removed),
                        frames=len(bodies),
                        bytes=sum(len(b) for b in bodies),
                    )
                for body in bodies:
                    # built from typed objects: matching it to its declaration again cost
                    # as much as building it (a thousand full sets after a failover)
                    request.reply(body, more=True, check=False)
                    session.frames_sent += 1
        except CodecError as exc:
            reason = exc.message
            if delta.full and not session.takes_parts:
                reason += (
                    f" (the node's full assignment set of {len(delta.tasks)} tasks: its "
                    "version takes a set in one frame only; upgrade it to take one in parts)"
                )
            _log.error("dispatcher.session.send_failed", peer_node=session.node_id, error=reason)
            with self._lock:
                self._core.close_session(session, f"assignments could not be sent: {reason}")

    def close(self, session: Session, reason: str) -> None:
        request = session.handle
        if isinstance(request, Request) and not request.answered:
            with contextlib.suppress(CodecError):
                request.reply(encode_frame(self.frame(session, Delta(False), closed=reason)))
        _log.info(
            "dispatcher.session.closed",
            peer_node=session.node_id,
            session_id=session.session_id,
            reason=reason,
        )
