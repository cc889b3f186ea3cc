"""The dispatcher's one place of writing: node statuses and task statuses, one store batch
per flush, on its own actor so a slow commit never holds up heartbeats. It only updates
Nodes that exist: a Node is created by the CA's join, never by the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

import pykka

from actors.dispatcher.core import NodeWrite
from actors.dispatcher.statuses import Decision, PendingStatus, judge_status
from actors.log import get_logger
from actors.store import Batch, ConflictError, MemoryStore, StoreError, WriteTx, nodes, tasks
from api.objects import NodeStatus
from api.objects_copy import copy_object

__all__ = ["StoreWriter", "Writes"]

_log = get_logger("dispatcher")

NODE_WRITE_ATTEMPTS = 3  # a node write re-reads the node: retry it when another writer won


@dataclass(frozen=True, slots=True)
class Writes:
    nodes: tuple[NodeWrite, ...] = ()
    statuses: tuple[PendingStatus, ...] = ()


def _write_node(tx: WriteTx, w: NodeWrite) -> None:
    node = nodes.get(tx, w.node_id)
    if node is None:
        # deleted meanwhile (node rm): never recreated here, Nodes come from the CA's join
        return
    addr = w.addr if w.addr is not None else node.status.addr
    description = w.description if w.description is not None else node.description
    tx.update(replace(node, description=description, status=NodeStatus(w.state, w.message, addr)))


def _write_status(tx: WriteTx, p: PendingStatus) -> None:
    task = tasks.get(tx, p.task_id)
    if judge_status(task, p.node_id, p.status).decision is Decision.WRITE:
        assert task is not None
        # copy_object, not dataclasses.replace: a write per status report; built here for
        # this write alone, so handed over (the store sets its meta instead of copying it)
        tx.update(copy_object(task, task.meta, {"status": p.status}), handed_over=True)


class StoreWriter(pykka.ThreadingActor):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self._store = store

    def on_receive(self, message: object) -> None:
        if isinstance(message, Writes):
            self.write(message.nodes, message.statuses)

    def write(
        self,
        node_writes: Sequence[NodeWrite],
        statuses: Sequence[PendingStatus],
        attempt: int = 1,
    ) -> None:
        def fill(batch: Batch) -> None:
            for w in node_writes:
                batch.update(partial(_write_node, w=w))
            for p in statuses:
                batch.update(partial(_write_status, p=p))

        try:
            result = self._store.batch(fill)
        except StoreError as exc:
            _log.error(
                "dispatcher.write.failed",
                nodes=len(node_writes),
                statuses=len(statuses),
                error=str(exc),
            )
            return
        retry: list[NodeWrite] = []
        for i, error in result.errors:
            # Nodes have other writers (the manager-status keeper, the CA, the control
            # API): a node write that lost a race re-reads the node and goes again.
            conflict = i < len(node_writes) and isinstance(error, ConflictError)
            if conflict and attempt < NODE_WRITE_ATTEMPTS:
                retry.append(node_writes[i])
                continue
            _log.warning("dispatcher.write.rejected", error=str(error))
        _log.debug(
            "dispatcher.write.complete",
            nodes=len(node_writes),
            statuses=len(statuses),
            proposals=result.proposals,
        )
        if retry:
            self.write(retry, (), attempt + 1)
