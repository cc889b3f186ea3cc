"""What a session frame, and a heartbeat reply, do on this node (the agent:
actors/worker/agent.py). Runs on the session's thread.

Rules, for each frame in order:
- the node's role it names goes to ``on_role`` (the renewer renews when it differs), the
  ingress table of a manager of the earlier version to ``on_ingress`` whole;
- the routing mesh's table is built from the frames' changes (mesh_table.py
  ``NodeTable``; a new session starts a new one, as its first frame brings a full table)
  and each table goes to ``on_ingress``; a change out of step or past the bounds ends the
  session (`SessionEnded`), so the next one brings a full table;
- what the frame's tasks need (networks, registry credentials) goes to the
  ``TaskResources`` the executor reads, and the secrets and configs it brings to the node's
  ``DependencyStore`` (memory only), so a task's objects are there before its executor
  prepares it; their ids (never their data) are logged as ``agent.dependencies.received``;
- then the assignments go to the ``AssignmentSink`` (the worker); a sink that fails ends
  the session.
- A manager list in a frame replaces the rotation's (`managers_from`); a changed one goes
  to ``on_managers``. A heartbeat reply's role and trust go to ``on_role`` and ``on_ca``.
- A hook that fails is logged (``agent.hook.failed``) and never ends the session: it is
  the node's bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actors.dispatcher.wire import ManagerAddress, SessionFrame
from actors.log import get_logger
from actors.worker.dependencies import DependencyStore
from actors.worker.interfaces import AssignmentSink
from actors.worker.mesh_table import NodeTable
from actors.worker.resources import TaskResources
from actors.worker.session import ManagerRotation
from actors.worker.session_calls import SessionEnded

__all__ = ["FrameApplier", "notify"]

_log = get_logger("agent")


def notify(hook: Callable[[Any], None], value: Any) -> None:
    """Call one of the node's hooks; a failure is logged, never raised."""
    try:
        hook(value)
    except Exception as exc:  # the node's bookkeeping must not end the session
        _log.warning("agent.hook.failed", error=repr(exc)[:200])


class FrameApplier:
    """Carries out each frame of a session (the module's rules)."""

    def __init__(
        self,
        *,
        sink: AssignmentSink,
        dependencies: DependencyStore,
        rotation: ManagerRotation,
        resources: TaskResources | None = None,
        on_role: Callable[[str], None] | None = None,
        on_ca: Callable[[Any], None] | None = None,
        on_managers: Callable[[Sequence[ManagerAddress]], None] | None = None,
        on_ingress: Callable[[Any], None] | None = None,
    ) -> None:
        self._sink = sink
        self._dependencies = dependencies
        self._rotation = rotation
        self._resources = resources
        self._on_role = on_role
        self._on_ca = on_ca
        self._on_managers = on_managers
        self._on_ingress = on_ingress  # the routing mesh's table (actors/worker/mesh.py)
        self._mesh_table = NodeTable()  # as this session's changes build it

    def new_session(self) -> None:
        """A new session's first frame brings a full mesh table."""
        self._mesh_table = NodeTable()

    def managers_from(self, frame: SessionFrame) -> None:
        if not frame.managers:
            return
        changed = frame.managers != self._rotation.managers
        self._rotation.update(frame.managers)
        if changed and self._on_managers is not None:
            notify(self._on_managers, frame.managers)

    def heartbeat_said(self, reply: Mapping[str, Any]) -> None:
        """The node's role and the cluster's trust a heartbeat reply names."""
        role = reply.get("role")
        if role and self._on_role is not None:
            notify(self._on_role, str(role))
        trust = reply.get("ca")
        if trust and self._on_ca is not None:
            notify(self._on_ca, trust)

    def apply(self, frame: SessionFrame) -> None:
        if frame.role is not None and self._on_role is not None:
            notify(self._on_role, frame.role)
        if frame.ingress is not None and self._on_ingress is not None:
            notify(self._on_ingress, frame.ingress)
        if frame.mesh is not None and self._on_ingress is not None:
            try:
                table = self._mesh_table.take(frame.mesh)
            except ValueError as exc:  # out of step, or past the bounds
                raise SessionEnded(str(exc)) from None
            notify(self._on_ingress, table)
        if self._resources is not None:
            self._resources.apply(
                full=frame.full,
                tasks=frame.tasks,
                removed=frame.removed,
                networks=frame.networks,
                auths=frame.registry_auths,
            )
        self._dependencies.apply(
            frame.full,
            frame.secrets,
            frame.secrets_removed,
            frame.configs,
            frame.configs_removed,
        )
        if frame.secrets or frame.configs or frame.secrets_removed or frame.configs_removed:
            _log.info(  # ids only, never the data (and no key that logs redact: "secret")
                "agent.dependencies.received",
                full=frame.full,
                received={
                    "secrets": [s.id for s in frame.secrets],
                    "configs": [c.id for c in frame.configs],
                },
                dropped={
                    "secrets": list(frame.secrets_removed),
                    "configs": list(frame.configs_removed),
                },
            )
        try:
            self._sink.apply_assignments(frame.full, frame.tasks, frame.removed)
        except Exception as exc:
            _log.exception("agent.assignments.failed", error=repr(exc))
            raise SessionEnded(f"the worker failed to take assignments: {exc!r}") from exc
