"""The control API: handlers for a manager's control socket, one module per object kind.

``control_handlers(store, raft_view=...)`` builds the table the control endpoint serves
(message types in api/schema/control.py). Handlers run on the endpoint's handler
threads, read from the store's memory and write through it (the store's proposer
forwards writes to the Raft leader); the node calls also read Raft's membership
(``raft_view``: actors/control/raft_members.py); errors become ``error`` replies with a
code (actors/control/errors.py).
"""

from __future__ import annotations

from collections.abc import Callable

from actors.control.cluster import ClusterControl
from actors.control.configs import ConfigControl
from actors.control.errors import ControlCode, ControlError, call, guarded
from actors.control.listing import in_frames
from actors.control.networks import NetworkControl
from actors.control.nodes import NodeControl
from actors.control.plans import ServicePlans
from actors.control.raft_members import RaftView
from actors.control.secrets import SecretControl
from actors.control.services import ServiceControl
from actors.control.tasks import TaskControl
from actors.store import MemoryStore
from api.ids import RandomBits
from transport.endpoint import Handler

__all__ = [
    "ClusterControl",
    "ConfigControl",
    "ControlCode",
    "ControlError",
    "NetworkControl",
    "NodeControl",
    "SecretControl",
    "ServiceControl",
    "TaskControl",
    "call",
    "control_handlers",
]


def control_handlers(
    store: MemoryStore,
    *,
    rng: RandomBits | None = None,
    raft_view: Callable[[], RaftView] | None = None,
) -> dict[str, Handler]:
    """``{"control.service.create": handler, ...}`` for the control endpoint's table
    (``raft_view``: Raft's membership now; None for a store without Raft)."""
    svc = ServiceControl(store, rng=rng)
    plans = ServicePlans(store)
    node = NodeControl(store, raft_view=raft_view)
    task = TaskControl(store)
    cluster = ClusterControl(store)
    network = NetworkControl(store, rng=rng)
    secret = SecretControl(store, rng=rng)
    config = ConfigControl(store, rng=rng)
    table = {
        "control.service.create": svc.create,
        "control.service.update": svc.update,
        "control.service.scale": svc.scale,
        "control.service.inspect": svc.inspect,
        "control.service.rm": svc.rm,
        "control.service.rollback": svc.rollback,
        "control.service.history": svc.history,
        "control.service.plan": plans.plan,
        "control.node.inspect": node.inspect,
        "control.node.update": node.update,
        "control.node.rm": node.rm,
        "control.task.inspect": task.inspect,
        "control.cluster.inspect": cluster.inspect,
        "control.network.create": network.create,
        "control.network.ls": network.ls,
        "control.network.inspect": network.inspect,
        "control.network.rm": network.rm,
        "control.secret.create": secret.create,
        "control.secret.ls": secret.ls,
        "control.secret.inspect": secret.inspect,
        "control.secret.rm": secret.rm,
        "control.secret.update": secret.update,
        "control.config.create": config.create,
        "control.config.ls": config.ls,
        "control.config.inspect": config.inspect,
        "control.config.rm": config.rm,
        "control.config.update": config.update,
    }
    listings = {
        "control.service.ls": in_frames(svc.ls, "services"),
        "control.node.ls": in_frames(node.ls, "nodes"),
        "control.service.ps": in_frames(svc.ps, "tasks"),
        "control.task.ls": in_frames(task.ls, "tasks"),
    }
    return {name: guarded(fn) for name, fn in table.items()} | listings
