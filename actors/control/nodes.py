"""Control API: nodes (ls, inspect, update, rm).

``update --role`` records ``spec.desired_role`` only after `api.roles.check_demotion`
agrees (not the last manager, no loss of quorum); the leader's membership reconciler
(actors/node/membership/join.py) changes Raft membership and ``Node.role``. ``rm`` refuses a
node that is not DOWN without ``force`` and a manager at all (demote it first); otherwise
it deletes the Node and lists its certificate as revoked in the same transaction
(`record_removal`): every manager's admission index follows the store, so the node's key
is refused at once and its dispatcher session is closed.

The control API owns a node's ``spec`` (availability, labels, desired role); the
dispatcher owns its ``status`` and the Raft node its ``manager_status``, which is why
edits are re-applied on a conflict (a heartbeat may change the node in between).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from actors.ca.service import record_removal
from actors.control.errors import Body, ControlCode, ControlError
from actors.control.views import node_document, node_row
from actors.control.writes import check_version, modify
from actors.store import MemoryStore, ReadTx, WriteTx, nodes
from api.enums import NodeAvailability, NodeRole, NodeState, Reachability
from api.list_filters import parse_node_filter
from api.objects import Node
from api.roles import ManagerView, check_demotion
from api.validation import validate_node_spec

__all__ = ["NodeControl", "parse_availability", "parse_role"]


def parse_role(value: str) -> NodeRole:
    try:
        return NodeRole(value.strip().lower())
    except ValueError:
        raise ControlError(
            ControlCode.INVALID_ARGUMENT, f"invalid role {value!r} (expected manager|worker)"
        ) from None


def _manager_views(all_nodes: list[Node]) -> list[ManagerView]:
    return [
        ManagerView(
            n.id,
            n.manager_status is not None
            and n.manager_status.reachability is Reachability.REACHABLE,
        )
        for n in all_nodes
        if n.role is NodeRole.MANAGER and n.spec.desired_role is NodeRole.MANAGER
    ]


def parse_availability(value: str) -> NodeAvailability:
    try:
        return NodeAvailability(value.strip().lower())
    except ValueError:
        raise ControlError(
            ControlCode.INVALID_ARGUMENT,
            f"invalid availability {value!r} (expected active|pause|drain)",
        ) from None


class NodeControl:
    def __init__(self, store: MemoryStore, clock: Any = time.time) -> None:
        self._store = store
        self._clock = clock

    def rm(self, body: Body) -> Body:
        ref = str(body["node"])
        force = bool(body.get("force"))
        removed: dict[str, str] = {}

        def write(tx: WriteTx) -> None:
            node = nodes.lookup(tx, ref)
            if node.role is NodeRole.MANAGER or node.spec.desired_role is NodeRole.MANAGER:
                raise ControlError(
                    ControlCode.INVALID_ARGUMENT,
                    f"rejected removal of node {node.id}: it is a manager and a member of the "
                    "Raft cluster; demote it first (swarmctl node demote)",
                )
            if node.status.state is not NodeState.DOWN and not force:
                raise ControlError(
                    ControlCode.INVALID_ARGUMENT,
                    f"node {node.id} is not down ({node.status.state.value}) and can't be "
                    "removed; stop it first or use --force",
                )
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

        def row(node: Node) -> dict[str, Any]:
            return {**node_row(node), "object": node_document(node)} if full else node_row(node)

        def read(tx: ReadTx) -> list[dict[str, Any]]:
            listed = sorted(nodes.list_all(tx), key=lambda n: (n.hostname, n.id))
            return [row(n) for n in listed if wanted.matches(n)]

        return {"nodes": self._store.view(read)}

    def inspect(self, body: Body) -> Body:
        def read(tx: ReadTx) -> Body:
            node = nodes.lookup(tx, str(body["node"]))
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
            if role is NodeRole.WORKER and node.spec.desired_role is NodeRole.MANAGER:
                refusal = check_demotion(_manager_views(nodes.list_all(tx)), node.id)
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
                result.update(id=node.id, changed=False, node=node_row(node))
                return
            updated = replace(node, spec=spec)
            tx.update(updated)
            result.update(id=node.id, changed=True)

        modify(self._store, write)
        if result["changed"]:  # the row as stored (its version is the commit's)
            result["node"] = self._store.view(lambda tx: node_row(nodes.lookup(tx, result["id"])))
        return result
