"""bench/store.py's helpers: a proposer that keeps a real Raft log on disk, and the fill.

``LoggedProposer`` commits each proposal at once (one member: no network) but first
saves it to a ``DurableStorage`` (one WAL record, fsync) and afterwards snapshots and
compacts by the Raft loop's rule (``compaction.snapshot_due``; here on the
proposing thread), so the log a manager keeps in memory between snapshots
is the one measured. ``fill_store`` writes what a leader's store holds for a running
fleet: nodes, services, and every task PENDING -> ASSIGNED -> RUNNING.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from actors.raft_node.compaction import snapshot_due
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState, Entry, HardState
from actors.store import MemoryStore, WriteTx
from actors.store import services as service_table
from api.enums import NodeState
from api.ids import new_id
from api.objects import (
    ContainerStatus,
    Node,
    NodeDescription,
    NodeStatus,
    Platform,
    Service,
    Task,
    TaskStatus,
)
from api.specs import (
    ContainerSpec,
    NodeSpec,
    ReplicatedService,
    RestartPolicy,
    ServiceSpec,
    TaskSpec,
)
from api.task_state import TaskState

__all__ = ["LoggedProposer", "RecordingProposer", "fill_store"]

SNAPSHOT_INTERVAL = 10_000  # the cluster default (RaftConfig.snapshot_interval)
KEEP_ENTRIES = 500  # log_entries_for_slow_followers


class LoggedProposer:
    def __init__(self, storage: DurableStorage) -> None:
        self._storage = storage
        self._store: MemoryStore | None = None
        self._index = storage.last_index()
        self._snapshot_index = 0
        self._bytes_since = self._snapshot_bytes = 0
        self.snapshots = 0
        self.snapshot_s = 0.0
        self.peak_log_bytes = 0

    @classmethod
    def open(cls, directory: Path) -> LoggedProposer:
        storage = DurableStorage.open(
            directory,
            log_entries_for_slow_followers=KEEP_ENTRIES,
            initial_conf_state=ConfState(voters=(1,)),
        )
        return cls(storage)

    def attach(self, store: MemoryStore) -> None:
        self._store = store

    def propose(self, data: bytes) -> Future[Any]:
        assert self._store is not None
        self._index += 1
        index = self._index
        self._storage.save(HardState(term=1, vote=1, commit=index), [Entry(index, 1, data)])
        self._store.apply(index, data)
        self._bytes_since += len(data)
        self.peak_log_bytes = max(self.peak_log_bytes, self.log_bytes())
        self._maybe_snapshot(index)
        future: Future[Any] = Future()
        future.set_result(index)
        return future

    def _maybe_snapshot(self, applied: int) -> None:
        assert self._store is not None
        since = applied - self._snapshot_index
        if not snapshot_due(since, self._bytes_since, SNAPSHOT_INTERVAL, self._snapshot_bytes):
            return
        started = time.perf_counter()
        data = self._store.snapshot()
        self._storage.create_snapshot(applied, ConfState(voters=(1,)), data)
        self._storage.compact(applied)
        self._snapshot_index = applied
        self._bytes_since, self._snapshot_bytes = 0, len(data)
        self.snapshots += 1
        self.snapshot_s += time.perf_counter() - started

    def log_bytes(self) -> int:
        storage = self._storage
        first, last = storage.first_index(), storage.last_index()
        return sum(len(e.data) for e in storage.entries(first, last + 1)) if last >= first else 0

    def figures(self) -> dict[str, Any]:
        return {
            "entries": self._index,
            "snapshots_during_fill": self.snapshots,
            "snapshot_s_during_fill": round(self.snapshot_s, 3),
            "kept_entries": self._storage.last_index() - self._storage.first_index() + 1,
            "kept_log_bytes": self._log_bytes_at_close,
            "peak_log_bytes": self.peak_log_bytes,
        }

    def close(self) -> None:
        self._log_bytes_at_close = self.log_bytes()
        self._storage.close()


class RecordingProposer:
    """Commits each proposal at once and keeps its entry (to apply again elsewhere)."""

    def __init__(self) -> None:
        self._store: MemoryStore | None = None
        self.entries: list[tuple[int, bytes]] = []

    def attach(self, store: MemoryStore) -> None:
        self._store = store

    def propose(self, data: bytes) -> Future[Any]:
        assert self._store is not None
        index = len(self.entries) + 1
        self.entries.append((index, data))
        self._store.apply(index, data)
        future: Future[Any] = Future()
        future.set_result(index)
        return future


def _spec(i: int) -> ServiceSpec:
    container = ContainerSpec(
        image="registry.example.com/team/web-frontend:1.4.2",
        command=("/bin/server",),
        args=("--port", "8080", "--log-level", "info"),
        env=(f"SERVICE_INDEX={i}", "MODE=production", "REGION=eu-west-1"),
        labels={"com.example.team": "web", "com.example.tier": "frontend"},
    )
    task = TaskSpec(container=container, restart_policy=RestartPolicy(delay=1.0))
    return ServiceSpec(
        name=f"web-{i:04d}",
        labels={"com.example.stack": "shop"},
        task=task,
        mode=ReplicatedService(replicas=0),
    )


def _node(i: int) -> Node:
    return Node(
        id=new_id(),
        spec=NodeSpec(name=f"worker-{i:05d}"),
        description=NodeDescription(
            hostname=f"worker-{i:05d}", platform=Platform("linux", "x86_64")
        ),
        status=NodeStatus(NodeState.READY, "", f"10.0.{i // 250}.{i % 250}:4242"),
    )


def fill_store(store: MemoryStore, *, tasks: int, services: int, nodes: int) -> dict[str, Any]:
    started = time.perf_counter()
    node_ids = [n.id for n in _create_each(store, [_node(i) for i in range(nodes)])]
    made = [Service(id=new_id(), spec=_spec(i), spec_version=1) for i in range(services)]
    _create_each(store, made)
    svcs = store.view(lambda tx: service_table.list_all(tx))
    now = time.time()
    created: list[Task] = []
    for i in range(tasks):
        svc = svcs[i % len(svcs)]
        created.append(
            Task(
                id=new_id(),
                spec=svc.spec.task,
                service_id=svc.id,
                service_name=svc.spec.name,
                slot=i // len(svcs) + 1,
                desired_state=TaskState.RUNNING,
                status=TaskStatus(timestamp=now, state=TaskState.PENDING, message="created"),
                spec_version=svc.spec_version,
            )
        )
    # handed over as the orchestrator's creates and the scheduler's assignments are; the
    # dispatcher's status writes are not
    ids = [t.id for t in _create_each(store, created, handed_over=True)]
    _update_each(store, ids, lambda t, i: _assigned(t, node_ids[i % len(node_ids)]), True)
    _update_each(store, ids, lambda t, i: _running(t), False)
    elapsed = round(time.perf_counter() - started, 2)
    return {"writes": nodes + services + 3 * tasks, "fill_s": elapsed}


def _assigned(task: Task, node_id: str) -> Task:
    status = TaskStatus(timestamp=time.time(), state=TaskState.ASSIGNED, message="assigned")
    return replace(task, node_id=node_id, status=status)


def _running(task: Task) -> Task:
    status = TaskStatus(
        timestamp=time.time(),
        state=TaskState.RUNNING,
        message="started",
        container_status=ContainerStatus(container_id=os.urandom(32).hex(), pid=4242),
        started_at=time.time(),
    )
    return replace(task, status=status)


def _create_each(store: MemoryStore, objs: list[Any], *, handed_over: bool = False) -> list[Any]:
    def fill(batch: Any) -> None:
        for obj in objs:
            batch.update(lambda tx, o=obj: tx.create(o, handed_over=handed_over))

    store.batch(fill)
    return objs


def _update_each(store: MemoryStore, ids: list[str], change: Any, handed_over: bool) -> None:
    def fill(batch: Any) -> None:
        for i, id in enumerate(ids):

            def one(tx: WriteTx, id: str = id, i: int = i) -> None:
                current = tx.get_as(Task, id)
                assert current is not None
                tx.update(change(current, i), handed_over=handed_over)

            batch.update(one)

    store.batch(fill)
