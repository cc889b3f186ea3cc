"""Runs one swarm-node in the role its certificate names, and restarts it in place when a
renewal changes that role (``node promote`` / ``node demote``, as SwarmKit's node does).

Rules:
- The certificate in the state dir decides the role, at process start
  (actors/node/startup/security.py) and after a renewal
  (`actors.node.membership.roles.role_restart`): the CA issues a manager certificate
  only once the leader recorded a promotion, and a worker one only once a demoted manager
  has left the Raft configuration.
- A role restart (on its own thread: the request comes from the renewer, a child of the
  tree being stopped) stops the running tree (every child, in reverse start order; the
  keys-at-rest rewrapper first), then builds a new `Assembly` and `Node` for the new role
  from the state dir and starts them. The process, node id, CURVE key pair and the running
  containers stay: the new worker child re-adopts them as after a restart.
- Demotion: the manager list the leader's sessions sent is already in
  STATE_DIR/managers.json (actors/node/tree/manager_parts.py); the worker assembly removes the Raft
  data, data key, Raft id and bootstrap voters (`remove_manager_state`).
- Promotion: the keys at rest are prepared for the new manager (a new data key), and its
  Raft starts empty: it asks the leader with ``raft.join`` under a new Raft id, joins as a
  learner and is promoted to voter once caught up, as a manager-token joiner does.
- A process restart at any point comes back in the certificate's role: the files a
  restart writes (certificate, managers.json) are written atomically before it begins,
  and whatever a worker must not keep is removed when a worker starts.
- A restart that fails to start the new tree escalates (``on_escalate``: swarm-node exits
  non-zero; started again it comes up in the certificate's role).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from actors.ca.node_certs import NodeCertificates
from actors.ca.node_identity import NodeIdentity
from actors.log import get_logger
from actors.node.startup.security import INIT_FILE, InitialCluster, NodeStartup, read_managers
from actors.node.tree.leader_group import RaftHolder
from actors.node.tree.manager_parts import Assembly
from actors.node.tree.node import Node, NodeConfig
from actors.raft_node.storage import Cipher
from actors.store import MemoryStore
from api.enums import NodeRole

__all__ = ["AtRestKeys", "NodeRunner"]

_log = get_logger("node")


class AtRestKeys(Protocol):
    """A running manager's keys at rest (actors/node/startup/at_rest.py `AtRest`)."""

    def raft_cipher(self) -> Cipher: ...

    def start(self, store: MemoryStore, raft: RaftHolder) -> None: ...

    def stop(self) -> None: ...

    def release(self, state_dir: Path) -> None: ...


BuildAssembly = Callable[[NodeStartup, "AtRestKeys | None"], Assembly]
PrepareManager = Callable[[NodeStartup], "tuple[NodeStartup, AtRestKeys] | None"]


class NodeRunner:
    def __init__(
        self,
        config: NodeConfig,
        startup: NodeStartup,
        *,
        build_assembly: BuildAssembly,
        prepare_manager: PrepareManager,
        on_escalate: Callable[[BaseException], None],
        at_rest: AtRestKeys | None = None,
    ) -> None:
        """``at_rest``: the first start's keys (a manager; prepared by the caller, which may
        have waited for an unlock); ``prepare_manager``: the keys for a later promotion
        (None: the node is stopping)."""
        self.identity: NodeIdentity = startup.identity
        self._config = config
        self._build = build_assembly
        self._prepare_manager = prepare_manager
        self._on_escalate = on_escalate
        self._at_rest = at_rest
        self.assembly = self._assemble(startup, at_rest)
        self.node = self._node(self.assembly)
        self._lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.restarts = 0

    @property
    def config(self) -> NodeConfig:
        return self._config

    def _assemble(self, startup: NodeStartup, at_rest: AtRestKeys | None) -> Assembly:
        assembly = self._build(startup, at_rest)
        assembly.on_role_change = self._role_changed
        return assembly

    def _node(self, assembly: Assembly) -> Node:
        return Node(self._config, self.identity, on_escalate=self._on_escalate, assembly=assembly)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the first tree (NodeError: it did not start)."""
        self.node.start()
        if self._at_rest is not None:
            self._at_rest.start(self.assembly.store, self.assembly.raft)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._stop_current()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._config.stop_timeout * 4)

    def _stop_current(self) -> None:
        if self._at_rest is not None:
            self._at_rest.stop()
            self._at_rest = None
        self.node.stop()

    # -- role restarts ------------------------------------------------------------------
    def _role_changed(self, certs: NodeCertificates) -> None:
        thread = threading.Thread(
            target=self._restart, args=(certs,), name="role-restart", daemon=True
        )
        self._thread = thread
        thread.start()

    def _restart(self, certs: NodeCertificates) -> None:
        role = certs.info.role
        with self._lock:
            if self._stopping or self.assembly.role is role:
                return
            previous = self.assembly.role
            _log.info("node.role.restarting", role=role.value, previous=previous.value)
            try:
                leaving = self._at_rest
                self._stop_current()
                state_dir = self._config.state_dir
                if leaving is not None:
                    leaving.release(state_dir)  # keys and worker state out of the key store
                startup = NodeStartup(
                    self.identity,
                    certs,
                    read_managers(state_dir),
                    InitialCluster.read(None, state_dir / INIT_FILE),
                    "resume",
                )
                at_rest: AtRestKeys | None = None
                if role is NodeRole.MANAGER:
                    prepared = self._prepare_manager(startup)
                    if prepared is None:
                        return  # stopped while waiting for the keys
                    startup, at_rest = prepared
                self._config = replace(self._config, role=role.value)
                self.assembly = self._assemble(startup, at_rest)
                self.node = self._node(self.assembly)
                self._at_rest = at_rest
                self.node.start()
                if at_rest is not None:
                    at_rest.start(self.assembly.store, self.assembly.raft)
            except Exception as exc:  # keys, addresses, a child that would not start
                _log.error("node.role.restart_failed", role=role.value, error=str(exc)[:500])
                self._on_escalate(exc)
                return
            self.restarts += 1
        _log.info(
            "node.role.restarted",
            role=role.value,
            previous=previous.value,
            raft_id=self.assembly.raft_id,
            control_api=str(self._config.listen_control_api),
        )
