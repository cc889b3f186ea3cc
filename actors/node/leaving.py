"""``swarm leave`` carried out: the ``control.cluster.leave`` handler every node's control
socket serves, and the steps the runner (actors/node/runner.py) takes on its own thread.
The decisions are pure (actors/node/membership/leave.py).

Rules:
- The handler refuses what Docker refuses (a manager without ``--force``: `leave_refusal`,
  code ``unavailable``, served outside the manager's readiness gate so that a manager
  without a leader can still be told to leave with ``--force``), then hands the leave to
  the runner (`LeaveRequest`) and answers once the node has left: its tasks removed, its
  swarm state gone. Having answered, it says so (``replied``); only then does the runner
  stop the endpoints that carry the answer (each delivers the replies queued before it
  stops, within a bound: no grace to guess), and the process exits 0.
- `leave_swarm`, in order: the renewer stops (no role restart); a manager that is not
  the last member leaves Raft through the demotion path (its own Node's desired role
  becomes worker: the leader's membership keeper hands leadership over if it is the
  leader, removes it, then records it a worker, actors/node/membership/plan.py) and waits
  until it is out: its session says its role is worker now (the removed member itself
  is never told: the leader stops replicating to it, and the others refuse its Raft
  traffic once it is recorded a worker), another member says it was removed, or its own
  configuration lacks it; at most ``raft_timeout``, after which a forced leave goes on,
  as Docker's does without a quorum. Then the log publisher and the agent stop (no new
  assignment); the worker is given an empty full assignment set, so every task's
  container (or process) is stopped (its stop signal, then its grace period) and
  removed, and the leave waits for it (at most the longest grace period, capped at
  `GRACE_LIMIT` so that the answer comes within its wait, plus ``task_timeout``); then
  every other child but the answering endpoints (control, engine) stops; then whatever
  the node's executor still holds for it (a task past that wait, or one left when a stop
  cut the leave short) is killed and removed, as Docker's leave force-removes its
  containers: nothing of the node keeps running once its state is gone; then the swarm
  state goes (`wipe_swarm_state`).
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import pykka

from actors.control.errors import ControlCode
from actors.control.writes import modify
from actors.log import get_logger
from actors.node.membership.leave import StateEntry, leaves_raft, swarm_state
from actors.node.startup.state_dir import LOCK_FILE
from actors.raft_node.actor import RaftNode
from actors.store import MemoryStore, StoreError, WriteTx, nodes
from actors.worker.executors.base import Executor, ExecutorError
from actors.worker.executors.process_sandbox import ProcessSandbox
from actors.worker.task_files import default_files_root
from actors.worker.worker_sink import WorkerSink
from api.enums import NodeRole
from api.objects import Task
from api.schema.control import CONTROL_CLUSTER_LEAVE
from api.task_state import TaskState
from transport.endpoint import Handler, Request

__all__ = [
    "ANSWERING",
    "GRACE_LIMIT",
    "LeaveDesk",
    "LeaveOutcome",
    "LeaveRefused",
    "LeaveRequest",
    "LeavingNode",
    "leave_handler",
    "leave_raft",
    "leave_swarm",
    "leave_while_locked",
    "remove_executor_tasks",
    "task_dirs",
    "wipe_swarm_state",
]

ANSWERING: Final = frozenset({"control", "engine"})  # the children that carry the answer
FIRST: Final = ("renewer",)  # stopped before anything else: no role restart meanwhile
SESSION: Final = ("logs", "agent")  # stopped before the tasks are removed
POLL: Final = 0.1  # how often a step looks whether it is done
# the longest a leave waits for its tasks' grace periods: with the Raft leave's wait it
# stays within the answer's (the handler's, swarmctl's and the Engine API's 120 s)
GRACE_LIMIT: Final = 30.0

_log = get_logger("node")


class LeaveRefused(Exception):
    """The node cannot begin a leave now (it is leaving or stopping already)."""


@dataclass(frozen=True)
class LeaveOutcome:
    node_id: str
    removed: tuple[str, ...]  # what went: state dir entries, then task directories
    left_raft: bool = False


@dataclass
class LeaveRequest:
    """A leave handed to the runner: ``outcome`` once it has left; the handler sets
    ``replied`` once it has answered."""

    force: bool
    outcome: Future[LeaveOutcome] = field(default_factory=Future)
    replied: threading.Event = field(default_factory=threading.Event)


class LeaveDesk:
    """Where a control handler hands a leave over (`begin`, any thread) and the runner
    finds it (`pending`) and carries it out (`carry_out`, on the runner's thread)."""

    def __init__(self, wake: Callable[[], None], stopping: Callable[[], bool]) -> None:
        self._wake = wake
        self._stopping = stopping
        self._lock = threading.Lock()
        self.pending: LeaveRequest | None = None

    def begin(self, force: bool) -> LeaveRequest:
        """Hand a leave to the runner; `LeaveRefused` when one is under way or the node
        is stopping."""
        with self._lock:
            if self.pending is not None:
                raise LeaveRefused("this node is already leaving the swarm")
            if self._stopping():
                raise LeaveRefused("this node is stopping")
            request = self.pending = LeaveRequest(force)
        self._wake()
        return request

    def carry_out(
        self,
        request: LeaveRequest,
        node: LeavingNode,
        *,
        stop: threading.Event,
        task_timeout: float,
        raft_timeout: float,
        reply_wait: float,
    ) -> LeaveOutcome:
        """`leave_swarm`, its outcome handed to the waiting handler, then until the
        handler said it replied (at most ``reply_wait``): its reply is queued on the
        control endpoint, which delivers what it was given before it closes
        (transport/router_loop.py), as the Engine API lets the HTTP answer waiting on
        it finish (actors/http/server.py). Raises what stopped the leave (the request
        fails with it)."""
        _log.info("node.leaving", role=node.role.value, force=request.force)
        try:
            outcome = leave_swarm(
                node, stop=stop, task_timeout=task_timeout, raft_timeout=raft_timeout
            )
        except Exception as exc:
            _log.error("node.leave_failed", error=str(exc)[:500])
            request.outcome.set_exception(exc)
            raise
        _log.info(
            "node.left",
            node_id=outcome.node_id,
            role=node.role.value,
            left_raft=outcome.left_raft,
            removed=list(outcome.removed),
        )
        request.outcome.set_result(outcome)
        request.replied.wait(reply_wait)
        return outcome


def leave_handler(
    begin: Callable[[bool], LeaveRequest],
    refusal: Callable[[bool], str | None],
    timeout: float,
) -> dict[str, Handler]:
    """The ``control.cluster.leave`` handler: ``refusal(force)`` says why not (Docker's
    words), ``begin(force)`` hands the leave to the runner; the answer waits for it (at
    most ``timeout`` seconds)."""

    def leave(request: Request) -> Mapping[str, Any] | None:
        force = bool(request.body.get("force"))
        why = refusal(force)
        if why is not None:
            request.error(ControlCode.UNAVAILABLE, why)
            return None
        try:
            pending = begin(force)
        except LeaveRefused as exc:
            request.error(ControlCode.UNAVAILABLE, str(exc))
            return None
        try:
            outcome = pending.outcome.result(timeout)
        except TimeoutError:
            request.error(ControlCode.TIMEOUT, f"the node did not leave within {timeout:g}s")
            return None
        except Exception as exc:  # the leave failed: the node stops with exit 1
            request.error(ControlCode.UNAVAILABLE, f"leaving the swarm failed: {exc}")
            return None
        try:
            request.reply({"node_id": outcome.node_id, "removed": list(outcome.removed)})
        finally:
            pending.replied.set()
        return None

    return {CONTROL_CLUSTER_LEAVE.name: leave}


# -- the steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeavingNode:
    """What `leave_swarm` works on."""

    supervisor: pykka.ActorRef[Any]  # the tree's root
    role: NodeRole
    node_id: str
    state_dir: Path
    task_dirs: Sequence[Path]  # the node's task directories outside its state dir
    store: MemoryStore | None = None  # a manager's
    raft: Callable[[], RaftNode | None] = lambda: None  # a manager's running Raft node
    # the Node's role as the node's dispatcher session last said (None: not said yet)
    session_role: Callable[[], NodeRole | None] = lambda: None
    # an executor for the node's id (None: none to ask), to remove what its worker left
    executor: Callable[[], Executor] | None = None


def leave_swarm(
    node: LeavingNode,
    *,
    stop: threading.Event,
    task_timeout: float,
    raft_timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> LeaveOutcome:
    """Carry the leave out (the module's rules); raises what stops it (the node then
    stops with exit 1)."""
    supervisor = node.supervisor.proxy()
    names = [status.name for status in supervisor.status().get(timeout=10.0)]
    stopped = {*FIRST, *SESSION}
    for name in FIRST:
        if name in names:
            supervisor.stop_child(name).get()
    left_raft = False
    if node.role is NodeRole.MANAGER and node.store is not None:
        left_raft = leave_raft(
            node.store, node.raft, node.node_id, node.session_role, raft_timeout, stop, clock
        )
    for name in SESSION:
        if name in names:
            supervisor.stop_child(name).get()
    if "worker" in names:
        _remove_tasks(supervisor.get("worker").get(timeout=10.0), task_timeout, stop, clock)
    for name in reversed(names):
        if name not in ANSWERING and name not in stopped:
            supervisor.stop_child(name).get()
    if node.executor is not None:
        remove_executor_tasks(node.executor())
    removed = wipe_swarm_state(node.state_dir, node.task_dirs)
    return LeaveOutcome(node.node_id, tuple(removed), left_raft)


def _remove_tasks(
    worker: pykka.ActorRef[Any],
    timeout: float,
    stop: threading.Event,
    clock: Callable[[], float],
) -> None:
    """An empty full assignment set: every task stopped (its stop signal, then its grace
    period) and its container removed; waits for the longest grace period (at most
    `GRACE_LIMIT`) plus ``timeout``."""
    proxy = worker.proxy()
    tasks: Sequence[tuple[Task, TaskState]] = proxy.held_tasks().get(timeout=10.0)
    longest = max((task.spec.container.stop_grace_period for task, _ in tasks), default=0.0)
    grace = min(longest, GRACE_LIMIT)
    held: Sequence[str] = proxy.task_ids().get(timeout=10.0)
    _log.info("node.leave.removing_tasks", tasks=len(held), grace=grace)
    WorkerSink(worker, timeout=10.0).apply_assignments(True, (), ())
    deadline = clock() + grace + timeout
    while held and clock() < deadline and not stop.is_set():
        stop.wait(POLL)
        held = proxy.task_ids().get(timeout=10.0)
    if held:  # killed once the worker has stopped
        _log.warning("node.leave.tasks_left", tasks=len(held), task_ids=list(held)[:20])


def leave_raft(
    store: MemoryStore,
    raft: Callable[[], RaftNode | None],
    node_id: str,
    session_role: Callable[[], NodeRole | None],
    timeout: float,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Take this manager out of Raft through the demotion path; True once it is out,
    False when it is the last member or the group did not take it out in time."""
    member = raft()
    if member is None:
        return False
    status = member.status()
    if not leaves_raft(status.node_id, status.voters, status.learners):
        _log.info("node.leave.last_manager", raft_id=status.node_id)
        return False

    def demote(tx: WriteTx) -> None:
        own = nodes.get(tx, node_id)
        if own is not None and own.spec.desired_role is not NodeRole.WORKER:
            tx.update(replace(own, spec=replace(own.spec, desired_role=NodeRole.WORKER)))

    _log.info("node.leave.raft_leaving", raft_id=status.node_id)
    deadline = clock() + timeout
    try:
        modify(store, demote)
    except (StoreError, TimeoutError) as exc:
        _log.warning("node.leave.raft_not_left", raft_id=status.node_id, error=str(exc)[:300])
        return False
    while clock() < deadline and not stop.is_set():
        if session_role() is NodeRole.WORKER or member.removed_by is not None:
            break
        status = member.status()
        if status.node_id not in (*status.voters, *status.learners):
            break
        stop.wait(POLL)
    else:
        _log.warning(
            "node.leave.raft_not_left", raft_id=status.node_id, error="not removed in time"
        )
        return False
    _log.info("node.leave.raft_left", raft_id=status.node_id, by=member.removed_by)
    return True


def task_dirs(node_id: str, sandbox: ProcessSandbox | None) -> list[Path]:
    """The node's task directories outside its state dir: its tasks' secret and config
    files, and the process executor's working directories."""
    found = [default_files_root(node_id)]
    if sandbox is not None:
        found.append(sandbox.work_root)
    return found


def leave_while_locked(state_dir: Path, executor: Executor, dirs: Sequence[Path]) -> list[str]:
    """A locked manager's forced leave: what ``executor`` holds for the node removed,
    then its swarm state wiped (its keys stay locked: it cannot leave Raft). What went."""
    _log.info("node.leaving", role=NodeRole.MANAGER.value, force=True, locked=True)
    remove_executor_tasks(executor)
    return wipe_swarm_state(state_dir, dirs)


def remove_executor_tasks(executor: Executor) -> bool:
    """Everything ``executor`` holds for this node killed and removed, found by node id
    (no worker state needed: a locked manager's is locked away), as Docker's leave
    force-removes the node's containers. A runtime that cannot do it (its engine down)
    does not stop the leave: what is left is logged (``node.leave.tasks_left``). True
    when nothing is left."""
    try:
        held = list(executor.list_tasks())
    except ExecutorError as exc:
        _log.warning("node.leave.tasks_left", error=str(exc)[:300])
        return False
    cleared = True
    for task_id in held:
        try:
            executor.remove_orphan(task_id, kill=True)
        except ExecutorError as exc:
            _log.warning("node.leave.tasks_left", task_ids=[task_id], error=str(exc)[:300])
            cleared = False
            continue
        _log.info("node.leave.task_removed", task_id=task_id)
    return cleared


def wipe_swarm_state(state_dir: Path, task_dirs: Sequence[Path] = ()) -> list[str]:
    """Remove the swarm state (`swarm_state`) and the node's task directories; what went."""
    entries = []
    with os.scandir(state_dir) as listing:
        for entry in listing:
            mode = entry.stat(follow_symlinks=False).st_mode
            entries.append(StateEntry(entry.name, is_socket=stat.S_ISSOCK(mode)))
    removed = []
    for name in swarm_state(entries, LOCK_FILE):
        _remove(state_dir / name)
        removed.append(name)
    for directory in task_dirs:
        if directory.exists():
            _remove(directory)
            removed.append(str(directory))
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
