"""Control API: tasks (ls with filters, inspect). Read-only: tasks are written by the
orchestrator, the scheduler and the dispatcher, never by users. ``ls`` takes ``docker
node ps``'s ``--filter`` words too (api/list_filters.py)."""

from __future__ import annotations

from typing import Any

from actors.control.errors import Body, ControlCode, ControlError
from actors.control.views import task_name, task_order, task_row
from actors.store import MemoryStore, ReadTx, nodes, services, tasks
from api.codec_objects import encode_object
from api.list_filters import parse_task_filter
from api.objects import Service, Task
from api.task_state import parse_task_state

__all__ = ["TaskControl"]


class TaskControl:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def ls(self, body: Body) -> Body:
        wanted = body.get("desired_state")
        full = bool(body.get("full", False))
        try:
            state = parse_task_state(str(wanted)) if wanted else None
            wanted_tasks = parse_task_filter(body.get("filters") or ())
        except ValueError as exc:
            raise ControlError(ControlCode.INVALID_ARGUMENT, str(exc)) from None

        def read(tx: ReadTx) -> list[dict[str, Any]]:
            selected: list[Task] | None = None
            if body.get("service"):
                selected = tasks.by_service(tx, services.lookup(tx, str(body["service"])).id)
            if body.get("node"):
                node_id = nodes.lookup(tx, str(body["node"])).id
                if selected is None:
                    selected = tasks.by_node(tx, node_id)
                else:
                    selected = [t for t in selected if t.node_id == node_id]
            if selected is None:
                selected = tasks.list_all(tx)
            if state is not None:
                selected = [t for t in selected if t.desired_state == state]
            hostnames = {n.id: n.hostname for n in nodes.list_all(tx)}
            owners: dict[str, Service | None] = {}
            rows = []
            for t in sorted(selected, key=lambda t: (t.service_name, *task_order(t))):
                if t.service_id not in owners:
                    owners[t.service_id] = services.get(tx, t.service_id)
                owner = owners[t.service_id]
                labels = owner.spec.labels if owner is not None else {}
                if not wanted_tasks.matches(t, task_name(t), labels):
                    continue
                row = task_row(t, hostnames, owner)
                if full:
                    row["object"] = encode_object(t)  # as task inspect shows it
                rows.append(row)
            return rows

        return {"tasks": self._store.view(read)}

    def inspect(self, body: Body) -> Body:
        def read(tx: ReadTx) -> Body:
            task = tasks.lookup(tx, str(body["task"]))
            hostnames = {n.id: n.hostname for n in nodes.list_all(tx)}
            row = task_row(task, hostnames, services.get(tx, task.service_id))
            return {"task": encode_object(task), "summary": row}

        return self._store.view(read)
