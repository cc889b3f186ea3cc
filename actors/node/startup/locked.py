"""A locked manager: only its control endpoint runs, until ``swarmctl unlock`` succeeds.

`wait_for_unlock` binds the control socket with `actors.control.unlock.locked_handlers`
(plus ``version``), and returns the unwrapped `NodeKeys` once an operator gave the right
unlock key, or None when ``stop`` is set first (SIGTERM while locked). A wrong key is
answered "invalid unlock key" and the node keeps waiting; a damaged key store file is
answered with the error naming the file (``store_error``), and the node keeps waiting
too. A right key is accepted only once ``preflight`` passes (every TCP port the manager
binds as it starts is free: actors/node/startup/listeners.py); a taken port is answered
with the error naming it and what it is for, and the node stays locked, so the operator
frees it and unlocks again instead of being told "unlocked" by a node about to stop. The
endpoint is stopped and its socket file removed before returning, so the node's own
control endpoint can bind it.

``swarmctl cluster leave`` is served too, as Docker's daemon does on a locked swarm:
refused without ``--force`` (actors/node/membership/leave.py `LOCKED`); with it, ``leave``
(the runner's: its tasks removed, its swarm state wiped) runs, the answer names what went,
and `wait_for_unlock` raises `LeftWhileLocked` once the answer is out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from actors.ca.keystore import KeyStoreError
from actors.control.errors import ControlCode, ControlError, guarded
from actors.control.unlock import locked_handlers
from actors.log import get_logger
from actors.node.membership.leave import leave_refusal
from actors.node.startup.keys import LockedKeys, NodeKeys
from actors.node.startup.listeners import PortTaken
from api.enums import NodeRole
from api.schema.control import CONTROL_CLUSTER_LEAVE
from transport.endpoint import Endpoint, Handler, Request

__all__ = ["LeftWhileLocked", "wait_for_unlock"]

_log = get_logger("keys")


class LeftWhileLocked(Exception):
    """The locked node left the swarm (``cluster leave --force``): what it removed."""

    def __init__(self, node_id: str, removed: Sequence[str]) -> None:
        super().__init__("left the swarm while locked")
        self.node_id = node_id
        self.removed = tuple(removed)


def wait_for_unlock(
    locked: LockedKeys,
    control_path: Path,
    stop: threading.Event,
    *,
    version: Mapping[str, Any],
    preflight: Callable[[], None] = lambda: None,
    leave: Callable[[], Sequence[str]] | None = None,
) -> NodeKeys | None:
    """The unlocked keys; None when stopped first. Raises `LeftWhileLocked` once a
    ``cluster leave --force`` was answered (served only when ``leave`` is given)."""
    result: list[NodeKeys] = []
    left: list[Sequence[str]] = []
    unlocked = threading.Event()
    guard = threading.Lock()

    def attempt(text: str) -> None:
        with guard:
            if result:
                return
            if left:
                raise ControlError(ControlCode.UNAVAILABLE, "this node has left the swarm")
            try:
                keys = locked.unlock(text)
            except KeyStoreError as exc:  # damaged, not a wrong key: say which file
                _log.error("node.unlock.failed", error=str(exc))
                raise ControlError(ControlCode.STORE, f"cannot unlock: {exc}") from None
            except Exception:
                _log.warning("node.unlock.refused")
                raise
            try:
                preflight()
            except PortTaken as exc:
                _log.error("node.unlock.cannot_start", error=str(exc))
                raise ControlError(
                    ControlCode.UNAVAILABLE,
                    f"the unlock key is right, but this manager cannot start: {exc}; "
                    "free it and run swarmctl unlock again (the manager stays locked)",
                ) from None
            result.append(keys)
        _log.info("node.unlocked")
        unlocked.set()

    def version_handler(_request: Request) -> Mapping[str, Any]:
        return {**version, "locked": True}

    def leave_swarm(body: Mapping[str, Any]) -> Mapping[str, Any]:
        why = leave_refusal(NodeRole.MANAGER, bool(body.get("force")), locked=True)
        if why is not None or leave is None:
            raise ControlError(ControlCode.UNAVAILABLE, why or "this node cannot leave now")
        with guard:
            if result or left:
                raise ControlError(ControlCode.UNAVAILABLE, "this node is no longer locked")
            try:
                removed = leave()
            except Exception as exc:
                _log.error("node.leave_failed", error=str(exc)[:500], locked=True)
                raise ControlError(
                    ControlCode.UNAVAILABLE, f"leaving the swarm failed: {exc}"
                ) from None
            left.append(removed)
        return {"node_id": str(version.get("node_id", "")), "removed": list(removed)}

    wake = threading.Event()

    def stop_waiting() -> None:
        if unlocked.is_set() or left:
            wake.set()

    handlers: dict[str, Handler] = {**locked_handlers(attempt), "version": version_handler}
    handlers["control.unlock"] = _answered_then(handlers["control.unlock"], stop_waiting)
    if leave is not None:
        handlers[CONTROL_CLUSTER_LEAVE.name] = _answered_then(guarded(leave_swarm), stop_waiting)
    endpoint = Endpoint(f"ipc://{control_path}", handlers, name="control")
    endpoint.start()
    _log.warning("node.locked", control_api=str(control_path))
    try:
        while not wake.is_set() and not stop.is_set():
            wake.wait(0.2)
    finally:
        endpoint.stop()  # delivers the answers queued before it (transport/router_loop.py)
        control_path.unlink(missing_ok=True)
    if left:
        raise LeftWhileLocked(str(version.get("node_id", "")), left[0])
    return result[0] if result else None


def _answered_then(handler: Handler, then: Callable[[], None]) -> Handler:
    """``handler`` whose answer is queued on the endpoint before ``then`` runs: the
    endpoint, stopped after ``then``, delivers it as it closes."""

    def answer(request: Request) -> Mapping[str, Any] | None:
        try:
            body = handler(request)
            if body is not None:
                request.reply(body)
        finally:
            then()
        return None

    return answer
