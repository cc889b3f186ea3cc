"""The builder of a worker node's tree.

`WorkerParts` builds a worker node (its certificate says worker): a control endpoint
that answers ``version`` and refuses the rest, then the shared parts
(actors/node/tree/shared_parts.py): no Raft, no store, no remote endpoint. Its agent
starts from the manager list in STATE_DIR/managers.json and follows the lists its
sessions send. A worker's state dir holds no manager state: a demoted manager's is
removed when it starts as a worker (`remove_manager_state`).
"""

from __future__ import annotations

from typing import Any

import pykka

from actors.log import get_logger
from actors.node.leaving import leave_handler
from actors.node.startup.state_dir import remove_manager_state
from actors.node.tree.endpoints import (
    HandlerFactory,
    HandlerTable,
    endpoint_child,
    version_handlers,
    with_handlers,
    worker_control_handlers,
)
from actors.node.tree.managers import ManagerDirectory
from actors.node.tree.parts_setup import PartsSetup
from actors.node.tree.shared_parts import SharedParts
from actors.supervisor import ChildSpec, Directory
from api.enums import NodeRole
from api.limits import CONTROL_MAX_REQUEST_BYTES

__all__ = ["WorkerParts"]

_log = get_logger("node")


class WorkerParts:
    """A worker node's tree: its control endpoint, then the shared parts."""

    role = NodeRole.WORKER
    raft_id = 0

    def __init__(self, setup: PartsSetup) -> None:
        if setup.startup.role is not NodeRole.WORKER:
            raise ValueError("WorkerParts builds a node whose certificate says worker")
        self.setup = setup
        if remove_manager_state(setup.config.state_dir):
            _log.info("node.manager_state.removed", reason="this node is a worker")
        directory = ManagerDirectory(None, setup.startup.managers)
        self.shared = SharedParts(setup, directory, follow_session_managers=True)
        if setup.config.web_addr is not None:
            _log.warning(
                "node.web.idle",
                reason="--web-addr serves the web view while this node is a manager "
                "(swarmctl node promote)",
            )

    def endpoint_tables(self) -> dict[str, HandlerFactory]:
        """What each endpoint serves, by endpoint name (tests/security reads them)."""
        version = version_handlers(self.setup.identity, self.role)
        control = with_handlers(version, worker_control_handlers)
        return {"control": with_handlers(control, self.leave_handlers)}

    def leave_handlers(self, _peers: Directory) -> HandlerTable:
        """``swarm leave``: a worker always may (``--force`` or not)."""
        return leave_handler(self.setup.on_leave, lambda _force: None, self.setup.leave_timeout)

    def children(self) -> list[ChildSpec]:
        config = self.setup.config
        control = endpoint_child(
            "control",
            config.control_bind,
            self.endpoint_tables()["control"],
            max_request_size=CONTROL_MAX_REQUEST_BYTES,
            stop_timeout=config.stop_timeout,
        )
        shared = self.shared
        # every port bound before the control socket appears (actors/node/tree/node.py)
        return [*shared.metrics_children(), *shared.engine_children(), control, *shared.children()]

    def opening(self) -> None:
        """Nothing to index before a worker's tree starts."""

    def attach(self, supervisor: pykka.ActorRef[Any]) -> None:
        """Nothing follows Raft on a worker."""

    def closing(self) -> None:
        """Nothing runs beside a worker's tree."""
