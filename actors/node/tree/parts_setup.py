"""What a node's parts are built from, whatever its role: `PartsSetup`, which the runner
(actors/node/runner.py) makes once per start of the node's tree and hands to
`WorkerParts` or `ManagerParts`, and through them to `SharedParts`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from actors.ca.node_certs import NodeCertificates
from actors.ca.node_identity import NodeIdentity
from actors.node.config import NodeConfig
from actors.node.leaving import LeaveRequest
from actors.node.startup.security import NodeStartup
from actors.worker.executors.process_sandbox import ProcessSandbox
from api.objects import NodeDescription
from transport.source import source_host

__all__ = ["PartsSetup", "RoleChange"]

RoleChange = Callable[[NodeCertificates], None]


@dataclass(frozen=True)
class PartsSetup:
    """What a node's parts are built from, whatever its role."""

    config: NodeConfig
    startup: NodeStartup
    executor: str  # docker | process | sim, chosen
    description: NodeDescription
    on_role_change: RoleChange  # must not block: it runs on the renewer
    # ``swarm leave`` handed to the runner (actors/node/leaving.py)
    on_leave: Callable[[bool], LeaveRequest]
    # set once the node's stop is asked (the runner's): a wait of the start (a manager's
    # first Raft join) ends at once rather than holding the stop back
    stopping: threading.Event
    sandbox: ProcessSandbox | None = None  # the process executor's (cli/node_main.py)
    on_removed: Callable[[str], None] | None = None  # the node was removed: stop (must not block)
    # a manager's Raft member was told it was removed from the group: rejoin (must not block)
    on_raft_removed: Callable[[], None] | None = None
    # how long a leave's answer waits for the node to leave: below the 120 s its clients
    # wait (cli/leave.py, actors/engine_api/system.py), so they get the answer or this
    # refusal rather than their own timeout
    leave_timeout: float = 100.0
    tick_interval: float = 0.1  # Raft's (a manager)

    @property
    def identity(self) -> NodeIdentity:
        return self.startup.identity

    @property
    def source(self) -> str | None:
        """The local address outgoing connections leave from (transport.source)."""
        return source_host(self.config.listen_remote_api)
