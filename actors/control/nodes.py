"""Control API: nodes (ls, inspect, update).

The control API owns a node's ``spec`` (availability, labels, desired role); the
dispatcher owns its ``status`` and the Raft node its ``manager_status``, which is why
edits are re-applied on a conflict (a heartbeat may change the node in between).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from actors.control.errors import Body, ControlCode, ControlError
from actors.control.views import node_document, node_row
from actors.control.writes import check_version, modify
from actors.store import MemoryStore, ReadTx, WriteTx, nodes
from api.enums import NodeAvailability
from api.validation import validate_node_spec

__all__ = ["NodeControl", "parse_availability"]


def parse_availability(value: str) -> NodeAvailability:
    try:
        return NodeAvailability(value.strip().lower())
    except ValueError:
        raise ControlError(
            ControlCode.INVALID_ARGUMENT,
            f"invalid availability {value!r} (expected active|pause|drain)",
        ) from None


class NodeControl:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def ls(self, body: Body) -> Body:
        def read(tx: ReadTx) -> list[dict[str, Any]]:
            listed = sorted(nodes.list_all(tx), key=lambda n: (n.hostname, n.id))
            return [node_row(n) for n in listed]

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
            spec = replace(
                node.spec,
                labels=labels,
                availability=availability if availability is not None else node.spec.availability,
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
