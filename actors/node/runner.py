"""Runs one swarm-node's life on the caller's thread, from start-up to stop, and restarts
its parts in place when a renewal changes its role (``node promote`` / ``node demote``,
as SwarmKit's node does).

    runner = NodeRunner(config)          # cli/node_main.py, from the flags
    exit_code = runner.run()             # returns once stopped; raises if it cannot start
    runner.request_stop(reason, code)    # any thread, a signal handler too

Rules:
- One owner of the state dir: `run` makes it private, locks it (`StateDirLock`) before
  anything is read or written, and releases the lock once, on every way out.
- Start-up, in order (actors/node/startup/sequence.py): the key store opened first (a
  locked manager serves only ``swarmctl unlock`` until unlocked; a stop meanwhile ends
  `run` with 0); the node's place in the cluster (init, join or resume); a manager's keys
  at rest; the executor and the process sandbox. Then the tree of the role the
  certificate names (actors/node/tree/: `ManagerParts` or `WorkerParts` under a `Node`).
  A start that fails removes the sandbox directories it created outside the state dir
  (empty ones only).
- A stop asked while the node starts (a signal) ends the start at once, with 0: the
  waits of a join for the manager's CA (actors/ca/join.py, before ``ca.join``) and of a
  manager's first Raft join (actors/node/membership/join.py: the tree's parts get the
  stop as `PartsSetup.stopping`) included. A tree whose start the stop cut short is no
  failure: `run` stops what started and returns 0, leaving a state dir the next start
  resumes from.
- Then `run` waits, on its own thread, for a stop (`request_stop`: a signal, exit 0; the
  tree's escalation, exit 1) or a role change (a renewed certificate of the other role,
  told by the renewer, which must not block: the restart happens here, not on it).
- A role restart stops the running tree (every child in reverse start order), then
  builds the parts of the new role from the state dir and starts them.
  The process, node id, CURVE key pair and the running containers stay: the new worker
  child re-adopts them as after a restart. Demotion: the manager list the leader's
  sessions sent is already in STATE_DIR/managers.json; the keys the lost key store
  protected go back to their files (`AtRest.release`) and the worker's parts remove the
  manager state. Promotion: a new key store (a new data key) and an empty Raft log: it
  asks the leader with ``raft.join`` under a new Raft id, joins as a learner and is
  promoted to voter once caught up, as a manager-token joiner does.
- A process restart at any point comes back in the certificate's role: the files a
  restart writes (certificate, managers.json) are written durably before it begins, and
  whatever a worker must not keep is removed when a worker starts. A removal of the
  manager state is all or nothing (finished at the next start if a crash cut it short),
  and a manager certificate found without a key store or a Raft log (a promotion or a
  rejoin cut short before its new key store) starts as a promotion does
  (actors/node/startup/sequence.py).
- A restart waits for the old tree to end (`Node.stop`: as long as its children's stop
  timeouts allow, so its endpoints, stopped last, have let their ports go). A tree that
  has not ended by then, or a new tree that fails to start, stops the node with exit 1
  (started again it comes up in the certificate's role): never a new tree beside the old.
- A manager whose first ``raft.join`` is refused and whose renewed certificate names a
  worker (demoted while it was down, before it ever joined Raft: a promotion whose start
  failed) starts as a worker instead (`NoLongerManager`, actors/node/membership/join.py).
- A node removed from the cluster (``node rm``; its agent is refused) stops with exit 1
  and the reason (`stop_reason`), which swarm-node prints.
- ``swarm leave`` (``control.cluster.leave``, actors/node/leaving.py; the control
  handler hands it over through a `LeaveDesk`): on `run`'s thread the node leaves Raft if
  it is a manager with others in the group, stops its agent, removes its tasks, stops the
  rest of its tree but the endpoints that answer, and removes its swarm state from the
  state dir (identity, keys, certificates, task db, Raft log: all but the lock) and its
  task directories. Once the answer is out it stops with exit 0, logging ``node.left`` with
  what went; started again with the same flags it is a new node: it founds a new cluster,
  or joins afresh with ``--join-addr``. A locked manager leaves only with ``--force``
  (actors/node/startup/locked.py): it cannot leave Raft, so it only removes the tasks its
  executor holds for its node id and wipes its state (`_leave_while_locked`), then exits 0.
- A manager whose Raft member another manager says was removed from the group (started
  again with its old state after ``--force-new-cluster`` elsewhere, or removed while it
  was down; actors/raft_node/peers.py) rejoins, as SwarmKit's does: the tree stops, the
  manager state goes (Raft log, key store, Raft id, bootstrap voters, and the founder's
  init file: it founds nothing now), and it starts again as a promoted manager does,
  asking the leader with ``raft.join`` under a new Raft id. What only its old group
  committed is lost with it: that group was not the cluster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Final

from actors import log
from actors.ca.node_certs import NodeCertificates, load_node_certs
from actors.ca.node_identity import NodeIdentity, ensure_private_dir, read_node_id
from actors.node.config import NodeConfig, NodeError
from actors.node.leaving import LeaveDesk, LeaveRequest, LeavingNode, leave_while_locked, task_dirs
from actors.node.membership.join import NoLongerManager
from actors.node.startup.at_rest import AtRest, LeftWhileLocked, StoppedWhileLocked
from actors.node.startup.security import INIT_FILE, InitialCluster, NodeStartup, read_managers
from actors.node.startup.sequence import (
    choose_executor,
    new_sandbox_dirs,
    open_node,
    process_sandbox,
    promoted_keys,
    remove_new_dirs,
)
from actors.node.startup.state_dir import StateDirLock, remove_manager_state
from actors.node.tree.host_info import describe_host
from actors.node.tree.manager_parts import ManagerParts
from actors.node.tree.node import Node, NodeParts
from actors.node.tree.parts_setup import PartsSetup
from actors.node.tree.worker_parts import WorkerParts
from actors.stoppable import StopRequested
from actors.worker.executors import make_executor
from actors.worker.executors.process_sandbox import ProcessSandbox
from api.enums import NodeRole

__all__ = ["NodeRunner"]

WAKE_INTERVAL: Final = 0.5  # the run loop looks at its flags at least this often
LEAVE_RAFT_TIMEOUT: Final = 30.0  # how long a leaving manager waits to be out of Raft
# once the leave is done, until the handler has queued its answer; the endpoints deliver
# it as they stop (transport/router_loop.py)
LEAVE_REPLY_WAIT: Final = 10.0

_log = log.get_logger("node")


class NodeRunner:
    def __init__(
        self, config: NodeConfig, *, on_stopping: Callable[[float | None], None] | None = None
    ) -> None:
        """``on_stopping``: called once the node begins to stop, after a stop request or
        a failed start, with the longest the tree's stop may take (`Node.stop_timeout`;
        None: no tree was built). swarm-node arms a deadline from it that ends the
        process if a child refuses to stop."""
        self.config = config
        self._on_stopping = on_stopping
        self._stop = threading.Event()  # also ends a wait for ``swarmctl unlock``
        self._wake = threading.Event()
        self._reason = ""
        self._exit_code = 0
        self._role_change: NodeCertificates | None = None
        self._raft_removed = False
        self._leaves = LeaveDesk(self._wake.set, self._stop.is_set)
        self._executor = ""
        self._sandbox: ProcessSandbox | None = None
        self._new_dirs: tuple[Path, ...] = ()  # outside the state dir, made by this start
        self._at_rest: AtRest | None = None
        self.identity: NodeIdentity | None = None
        self.node: Node | None = None
        self.restarts = 0

    @property
    def parts(self) -> NodeParts | None:
        return self.node.parts if self.node is not None else None

    def request_stop(self, reason: str, exit_code: int = 0) -> None:
        """Stop with ``exit_code`` (the first request's reason and code win). Takes no
        lock of its own: a signal handler calls it."""
        if not self._stop.is_set():
            self._reason, self._exit_code = reason, exit_code
            self._stop.set()
        self._wake.set()

    # -- the life -------------------------------------------------------------------------
    def run(self) -> int:
        """Start, serve until a stop is requested, stop; the exit code. Raises what stops
        the node starting (`JoinError`, `IdentityError`, `NodeError`, `NodeKeysError`,
        `KeyStoreError`, `OSError`, `ProcessUserRefused`, `ProcessSandboxError`)."""
        state_dir = self.config.state_dir
        ensure_private_dir(state_dir)
        try:
            return self._run(state_dir)
        finally:
            remove_new_dirs(self._new_dirs)  # a start that failed ((): it started)

    def _run(self, state_dir: Path) -> int:
        with StateDirLock(state_dir):
            try:
                startup, at_rest = self._start_up()
            except StoppedWhileLocked:
                _log.info("node.stopped", exit_code=0, locked=True)
                return 0
            except StopRequested as stopped:  # a join cut short: nothing kept yet
                _log.info("node.stopped", exit_code=0, joining=str(stopped))
                return 0
            except LeftWhileLocked as left:
                _log.info(
                    "node.left",
                    node_id=left.node_id,
                    role=NodeRole.MANAGER.value,
                    left_raft=False,
                    locked=True,
                    removed=list(left.removed),
                )
                _log.info("node.stopped", exit_code=0, locked=True)
                return 0
            try:
                if self._start_tree(startup, at_rest):
                    self._new_dirs = ()  # started: they are the node's now
                    self._log_started(startup)
                    self._serve()
            finally:
                started = time.monotonic()
                if self._exit_code:
                    _log.error("node.stopping", reason=self._reason)
                elif self._stop.is_set():
                    _log.info("node.stopping", reason=self._reason)
                # also when the start failed: a child that never stops (a worker still
                # starting thousands of runners) held such a process for minutes
                if self._on_stopping is not None:
                    self._on_stopping(self.node.stop_timeout if self.node is not None else None)
                self._stop_tree()
        _log.info(
            "node.stopped",
            exit_code=self._exit_code,
            seconds=round(time.monotonic() - started, 3),
        )
        return self._exit_code

    def _start_up(self) -> tuple[NodeStartup, AtRest | None]:
        """The start-up sequence (actors/node/startup/sequence.py)."""
        config = self.config
        startup, at_rest = open_node(
            config, stop=self._stop, leave_while_locked=self._leave_while_locked
        )
        self.identity = startup.identity
        self._executor = choose_executor(config.executor)
        self._new_dirs = new_sandbox_dirs(self._executor, startup.identity.node_id)
        self._sandbox = process_sandbox(config, self._executor, startup.identity.node_id)
        config.remote_bind  # noqa: B018 - validates the address before the tree is built
        return startup, at_rest

    def _log_started(self, startup: NodeStartup) -> None:
        node, config = self.node, self.config
        assert node is not None
        manager = node.parts.role is NodeRole.MANAGER
        _log.info(
            "node.started",
            node_id=startup.identity.node_id,
            hostname=config.hostname,
            role=node.parts.role.value,
            cluster_id=startup.cluster_id,
            joined=startup.mode,
            executor=self._executor,
            raft_id=node.parts.raft_id,
            advertise_addr=config.advertise_addr,
            remote_api=node.address("remote") if manager else "",
            control_api=node.address("control"),
            public_key=startup.identity.keypair.public.decode(),
        )

    # -- the tree -------------------------------------------------------------------------
    def _start_tree(self, startup: NodeStartup, at_rest: AtRest | None) -> bool:
        """Build and start the tree of the certificate's role; False if the node's stop
        came first or cut the start short (a manager's first Raft join ends at a stop):
        no failure, the node stops as asked."""
        if self._stop.is_set():
            return False
        config = self.config
        setup = PartsSetup(
            config=config,
            startup=startup,
            executor=self._executor,
            description=describe_host(config.hostname, self._executor, config.labels),
            on_role_change=self._role_changed,
            on_leave=self._leaves.begin,
            stopping=self._stop,
            sandbox=self._sandbox,
            on_removed=self._removed,
            on_raft_removed=self._removed_from_raft,
        )
        parts: NodeParts = WorkerParts(setup) if at_rest is None else ManagerParts(setup, at_rest)
        self._at_rest = at_rest
        self.node = Node(config, parts, on_escalate=self._escalated)
        try:
            self.node.start()
        except NodeError as exc:
            if self._stop.is_set():
                _log.info("node.start.stopped", error=str(exc)[:300])
                return False
            if not isinstance(exc.__cause__, NoLongerManager):
                raise
            return self._start_demoted(exc.__cause__.certs)
        return True

    def _start_demoted(self, certs: NodeCertificates) -> bool:
        """A manager's first Raft join was refused and its renewed certificate names a
        worker (demoted while it was down, before it ever joined): start as that. False
        if the node's stop came first."""
        _log.info("node.role.restarting", role=certs.info.role.value, previous="manager")
        if self._rebuild(lambda: certs, certs.info.role, rejoin=False):
            return True
        if self._exit_code or not self._stop.is_set():
            raise NodeError(self._reason or "the node did not start as a worker")
        return False

    def _stop_tree(self) -> bool:
        """False if the tree had not ended within its bound (`Node.stop`)."""
        node, self.node = self.node, None
        return node.stop() if node is not None else True

    @property
    def stop_reason(self) -> str:
        """Why the node stopped (or is stopping); "" while it runs."""
        return self._reason

    def _removed(self, reason: str) -> None:
        self.request_stop(reason, 1)

    def _escalated(self, error: BaseException) -> None:
        self.request_stop(f"supervisor gave up: {type(error).__name__}: {error}", 1)

    # -- serving and role restarts --------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(WAKE_INTERVAL)
            self._wake.clear()
            leave = self._leaves.pending
            if leave is not None and not self._stop.is_set():
                self._leave_swarm(leave)
                return
            certs, self._role_change = self._role_change, None
            if certs is not None and not self._stop.is_set():
                self._restart(certs)
            if self._raft_removed and not self._stop.is_set():
                self._raft_removed = False
                self._rejoin_raft()

    def _role_changed(self, certs: NodeCertificates) -> None:
        """From the renewer's thread: the restart runs on `run`'s thread."""
        self._role_change = certs
        self._wake.set()

    def _restart(self, certs: NodeCertificates) -> None:
        role = certs.info.role
        parts = self.parts
        if parts is None or self.identity is None or parts.role is role:
            return
        previous = parts.role
        _log.info("node.role.restarting", role=role.value, previous=previous.value)
        if not self._rebuild(lambda: certs, role, rejoin=False):
            return
        node = self.node
        assert node is not None
        _log.info(
            "node.role.restarted",
            role=role.value,
            previous=previous.value,
            raft_id=node.parts.raft_id,
            control_api=str(self.config.listen_control_api),
        )

    # -- leaving the swarm ----------------------------------------------------------------
    def _leave_while_locked(self) -> list[str]:
        """``cluster leave --force`` on a locked manager, from the locked control
        endpoint's handler (actors/node/startup/locked.py): its executor finds the node's
        tasks by node id (its worker state is locked away)."""
        state_dir = self.config.state_dir
        node_id = read_node_id(state_dir)
        log.set_node_id(node_id)
        self._executor = choose_executor(self.config.executor)
        sandbox = process_sandbox(self.config, self._executor, node_id)
        executor = make_executor(
            self._executor, state_dir=state_dir, node_id=node_id, sandbox=sandbox
        )
        return leave_while_locked(state_dir, executor, task_dirs(node_id, sandbox))

    def _leave_swarm(self, request: LeaveRequest) -> None:
        node, identity = self.node, self.identity
        assert node is not None and identity is not None and node.supervisor is not None
        manager = node.parts if isinstance(node.parts, ManagerParts) else None
        node_id, sandbox, kind = identity.node_id, self._sandbox, self._executor
        leaving = LeavingNode(
            node.supervisor,
            node.parts.role,
            node_id,
            self.config.state_dir,
            task_dirs(node_id, sandbox),
            executor=lambda: make_executor(
                kind, state_dir=self.config.state_dir, node_id=node_id, sandbox=sandbox
            ),
        )
        if manager is not None:
            leaving = replace(
                leaving,
                store=manager.store,
                raft=lambda: manager.raft.node,
                session_role=lambda: manager.shared.session_role,
            )
        try:
            self._leaves.carry_out(
                request,
                leaving,
                stop=self._stop,
                task_timeout=self.config.stop_timeout * 2,
                raft_timeout=LEAVE_RAFT_TIMEOUT,
                reply_wait=LEAVE_REPLY_WAIT,
            )
        except Exception as exc:
            self.request_stop(f"leaving the swarm failed: {type(exc).__name__}: {exc}", 1)
            return
        self._at_rest = None  # its files are gone with the rest
        self.request_stop("left the swarm", 0)

    def _removed_from_raft(self) -> None:
        """From the Raft loop's thread: the rejoin runs on `run`'s thread."""
        self._raft_removed = True
        self._wake.set()

    def _rejoin_raft(self) -> None:
        """Rejoin the Raft group under a new Raft id (the module's rules)."""
        parts = self.parts
        if parts is None or self.identity is None or parts.role is not NodeRole.MANAGER:
            return
        state_dir = self.config.state_dir
        _log.warning("node.raft.rejoining", state_dir=str(state_dir))

        def certs() -> NodeCertificates:  # read once the keys are out of the key store
            return load_node_certs(state_dir, now=time.time())

        if not self._rebuild(certs, NodeRole.MANAGER, rejoin=True):
            return
        node = self.node
        assert node is not None
        _log.info("node.raft.rejoined", raft_id=node.parts.raft_id)

    def _rebuild(
        self, certs: Callable[[], NodeCertificates], role: NodeRole, *, rejoin: bool
    ) -> bool:
        """Stop the tree and start it again in ``role`` (a manager with a new key store,
        which joins Raft if it has no Raft log). ``rejoin``: the manager state goes first
        (a new Raft id; no founder any more). False if it did not start: stopped while
        waiting for the keys or while starting, or failed (the node then stops with exit
        1)."""
        identity = self.identity
        assert identity is not None
        state_dir = self.config.state_dir
        try:
            leaving, self._at_rest = self._at_rest, None
            if not self._stop_tree():
                # its endpoints may still hold the ports, its children the state dir: a
                # new tree beside it would fail to bind, or share the Raft log and tasks
                raise NodeError(
                    "the old tree did not stop in time; started again, the node comes up "
                    "in its certificate's role"
                )
            if leaving is not None:
                leaving.release(state_dir)  # keys and worker state out of the key store
            if rejoin:  # the founder's init file too: it founds nothing now
                remove_manager_state(state_dir)
            startup = NodeStartup(
                identity,
                certs(),
                read_managers(state_dir),
                InitialCluster.read(None, state_dir / INIT_FILE),
                "resume",
            )
            at_rest: AtRest | None = None
            if role is NodeRole.MANAGER:
                prepared = promoted_keys(self.config, startup, self._stop)
                if prepared is None:
                    return False  # stopped while waiting for the keys
                startup, at_rest = prepared
            if not self._start_tree(startup, at_rest):
                return False  # stopped while starting
        except Exception as exc:  # keys, addresses, a child that would not start
            event = "node.raft.rejoin_failed" if rejoin else "node.role.restart_failed"
            _log.error(event, role=role.value, error=str(exc)[:500])
            self.request_stop(f"supervisor gave up: {type(exc).__name__}: {exc}", 1)
            return False
        self.restarts += 1
        return True
