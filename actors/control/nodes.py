"""Control API: nodes (ls, inspect, update, rm).

Manager decisions and manager status come from Raft's membership as this manager's Raft
member sees it now (actors/control/raft_members.py), asked once per call before the
store is read or written (``raft_view``; the ask never waits inside a transaction: the
Raft loop applies to the store):
- ``ls``, ``inspect`` and the row ``update`` answers show each member's leader flag and
  reachability live, not the ``manager_status`` the leader last recorded (stale on a
  manager that just restarted);
- ``update --role`` records ``spec.desired_role`` only after `api.roles.check_demotion`
  agrees (not the last voter, no loss of quorum among the Raft members); the leader's
  membership reconciler (actors/node/membership/) changes Raft membership and
  ``Node.role``;
- ``rm`` refuses a node that is still a Raft member (demote it first) and one that is not
  DOWN without ``force``; otherwise it deletes the Node and lists its certificate as
  revoked in the same transaction (`record_removal`): every manager's admission index
  follows the store, so the node's key is refused at once and its dispatcher session is
  closed. A manager the group no longer has (after ``--force-new-cluster``) is no member:
  it can be demoted and removed.

The control API owns a node's ``spec`` (availability, labels, desired role); the
dispatcher owns its ``status`` and the Raft node its ``manager_status``, which is why
edits are re-applied on a conflict (a heartbeat may change the node in between).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from actors.ca.service import record_removal
from actors.control.errors import Body, ControlCode, ControlError
from actors.control.raft_members import (
    RaftView,
    check_removal,
    live_manager_status,
    member_views,
    stored_raft_view,
)
from actors.control.views import node_document, node_row
from actors.control.writes import check_version, modify
from actors.store import MemoryStore, ReadTx, WriteTx, nodes
from api.enums import NodeAvailability, NodeRole
from api.list_filters import parse_node_filter
from api.objects import Node
from api.roles import check_demotion
from api.validation import validate_node_spec

__all__ = ["NodeControl", "parse_availability", "parse_role"]


def parse_role(value: str) -> NodeRole:
    try:
        return NodeRole(value.strip().lower())
    except ValueError:
        raise ControlError(
            ControlCode.INVALID_ARGUMENT, f"invalid role {value!r} (expected manager|worker)"
        ) from None


def parse_availability(value: str) -> NodeAvailability:
    try:
        return NodeAvailability(value.strip().lower())
    except ValueError:
        raise ControlError(
            ControlCode.INVALID_ARGUMENT,
            f"invalid availability {value!r} (expected active|pause|drain)",
        ) from None


class NodeControl:
    """``raft_view``: the Raft configuration as this manager's member sees it now (a
    ControlError when it cannot say); without it, the store has no Raft (a local store)
    and its recorded manager statuses are the view (`stored_raft_view`)."""

    def __init__(
        self,
        store: MemoryStore,
        clock: Any = time.time,
        *,
        raft_view: Callable[[], RaftView] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._raft_view = raft_view

    def _view(self) -> RaftView:
        if self._raft_view is None:
            return stored_raft_view(self._store.view(nodes.list_all))
        return self._raft_view()

    def rm(self, body: Body) -> Body:
        ref = str(body["node"])
        force = bool(body.get("force"))
        view = self._view()
        removed: dict[str, str] = {}

        def write(tx: WriteTx) -> None:
            node = nodes.lookup(tx, ref)
            refusal = check_removal(node, view, force=force)
            if refusal is not None:
                raise ControlError(ControlCode.INVALID_ARGUMENT, refusal)
            record_removal(tx, node, now=self._clock(), reason="node rm")
            removed["id"] = node.id

        modify(self._store, write)
        return {"id": removed["id"]}

    def ls(self, body: Body) -> Body:
        """Node rows, by hostname; ``filters``: ``docker node ls``'s (api/list_filters.py)."""
        full = bool(body.get("full", False))
        try:
            wanted = parse_node_filter(body.get("filters") or ())
        except ValueError as exc:
            raise ControlError(ControlCode.INVALID_ARGUMENT, str(exc)) from None
        view = self._view()

        def row(node: Node) -> dict[str, Any]:
            return {**node_row(node), "object": node_document(node)} if full else node_row(node)

        def read(tx: ReadTx) -> list[dict[str, Any]]:
            listed = sorted(nodes.list_all(tx), key=lambda n: (n.hostname, n.id))
            return [row(_live(n, view)) for n in listed if wanted.matches(n)]

        return {"nodes": self._store.view(read)}

    def inspect(self, body: Body) -> Body:
        view = self._view()

        def read(tx: ReadTx) -> Body:
            node = _live(nodes.lookup(tx, str(body["node"])), view)
            return {"node": node_document(node), "summary": node_row(node)}

        return self._store.view(read)

    def update(self, body: Body) -> Body:
        ref = str(body["node"])
        availability = (
            parse_availability(str(body["availability"])) if "availability" in body else None
        )
        label_add = {str(k): str(v) for k, v in dict(body.get("label_add") or {}).items()}
        label_rm = [str(k) for k in body.get("label_rm") or ()]
        role = parse_role(str(body["role"])) if body.get("role") else None
        for key in label_add:
            if not key:
                raise ControlError(ControlCode.INVALID_ARGUMENT, "label keys must not be empty")
        pinned = body.get("version")
        result: dict[str, Any] = {}
        # asked only for a demotion, and before the transaction (never inside it)
        demotion = self._view() if role is NodeRole.WORKER else None

        def write(tx: WriteTx) -> None:
            node = nodes.lookup(tx, ref)
            check_version("node", node.id, pinned, node.meta.version)
            labels = dict(node.spec.labels)
            for key in label_rm:
                if key not in labels:
                    raise ControlError(
                        ControlCode.INVALID_ARGUMENT,
                        f"key {key!r} doesn't exist in node {node.id}'s labels",
                    )
                del labels[key]
            labels.update(label_add)
            if demotion is not None and node.spec.desired_role is NodeRole.MANAGER:
                refusal = check_demotion(member_views(demotion, nodes.list_all(tx)), node.id)
                if refusal is not None:
                    raise ControlError(ControlCode.INVALID_ARGUMENT, refusal)
            spec = replace(
                node.spec,
                labels=labels,
                availability=availability if availability is not None else node.spec.availability,
                desired_role=role if role is not None else node.spec.desired_role,
            )
            validate_node_spec(spec)
            result.clear()
            if spec == node.spec:
                result.update(id=node.id, changed=False)
                return
            updated = replace(node, spec=spec)
            tx.update(updated)
            result.update(id=node.id, changed=True)

        modify(self._store, write)
        # the row as stored (its version is the commit's), its manager status live as in ls
        view = demotion or self._view()
        result["node"] = self._store.view(
            lambda tx: node_row(_live(nodes.lookup(tx, result["id"]), view))
        )
        return result


def _live(node: Node, view: RaftView) -> Node:
    """``node`` with its manager status as Raft says it now."""
    status = live_manager_status(node, view)
    return node if status == node.manager_status else replace(node, manager_status=status)
