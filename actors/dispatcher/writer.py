"""The dispatcher's one place of writing: node statuses and task statuses, one store batch
per flush, on its own actor so a slow commit never holds up heartbeats. It only updates
Nodes that exist: a Node is created by the CA's join, never by the dispatcher.

Task statuses go ``STATUS_GROUP`` to a sub-transaction (a ramp writes 100,000 of them, and
a sub-transaction per status cost a third more of the writer's CPU per status: its own
store lock, transaction and group to encode). A group is applied whole or not at all, so
a group that one status of it got rejected (its task changed by another writer's
proposal in flight, or deleted) is written again one status per sub-transaction, each
judged again against the task as stored then; a status whose write lost such a race again
is retried up to ``WRITE_ATTEMPTS`` writes in all, as a node write is. A status dropped
on a conflict was lost for good: a removed service's task that the orchestrator was giving
desired REMOVE as its SHUTDOWN came in stayed non-terminal, so the reaper never deleted
it, nor the service, until the node's next session resent its statuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

import pykka

from actors.dispatcher.core import NodeWrite
from actors.dispatcher.statuses import Decision, PendingStatus, judge_status
from actors.log import get_logger
from actors.store import Batch, ConflictError, MemoryStore, StoreError, WriteTx, nodes, tasks
from api.objects import NodeDescription, NodeStatus
from api.objects_copy import copy_object

__all__ = ["StoreWriter", "Writes"]

_log = get_logger("dispatcher")

WRITE_ATTEMPTS = 5  # a write re-reads its object: retried while another writer wins
STATUS_GROUP = 64  # task statuses per sub-transaction


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
    if w.tls is not None:  # a heartbeat's TLS report (core.py)
        description = replace(description or NodeDescription(), tls_info=w.tls)
    tx.update(replace(node, description=description, status=NodeStatus(w.state, w.message, addr)))


def _write_status(tx: WriteTx, p: PendingStatus) -> None:
    task = tasks.get(tx, p.task_id)
    if judge_status(task, p.node_id, p.status).decision is Decision.WRITE:
        assert task is not None
        # copy_object, not dataclasses.replace: a write per status report; built here for
        # this write alone, so handed over (the store sets its meta instead of copying it)
        tx.update(copy_object(task, task.meta, {"status": p.status}), handed_over=True)


def _write_statuses(tx: WriteTx, ps: Sequence[PendingStatus]) -> None:
    for p in ps:
        _write_status(tx, p)


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
        group: int = STATUS_GROUP,
    ) -> None:
        groups = [statuses[i : i + group] for i in range(0, len(statuses), group)]

        def fill(batch: Batch) -> None:
            for w in node_writes:
                batch.update(partial(_write_node, w=w))
            for ps in groups:
                batch.update(partial(_write_statuses, ps=ps))

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
        alone: list[PendingStatus] = []  # statuses of rejected groups: one by one
        for i, error in result.errors:
            # Nodes and tasks have other writers (the manager-status keeper, the CA, the
            # control API; the orchestrator, the scheduler): a write that lost a race
            # re-reads its object and goes again.
            again = isinstance(error, ConflictError) and attempt < WRITE_ATTEMPTS
            if i >= len(node_writes):
                rejected = groups[i - len(node_writes)]
                if len(rejected) > 1 or again:
                    alone.extend(rejected)
                    continue
            elif again:
                retry.append(node_writes[i])
                continue
            _log.warning("dispatcher.write.rejected", error=str(error))
        _log.debug(
            "dispatcher.write.complete",
            nodes=len(node_writes),
            statuses=len(statuses),
            proposals=result.proposals,
        )
        if retry or alone:
            self.write(retry, alone, attempt + 1, group=1)
