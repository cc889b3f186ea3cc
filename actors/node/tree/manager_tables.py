"""What a manager's endpoints serve: the handler tables of its remote, control and hello
endpoints, built from its parts (`ManagerParts`, actors/node/tree/manager_parts.py).

Rules:
- ``remote`` (CURVE, ZAP by the CA-backed admission index): Raft, the dispatcher's
  sessions, the log streams, the CA (join, renew) and ``raft.join``, every handler
  authorized per message type (actors/ca/authorization.py ``authorize``: raft.* managers,
  dispatcher.* any node, ca.join anyone); each call acts for the node its certificate
  names (``certified_node``).
- ``control`` (ipc://, file mode 0600): the control API, gated until this manager can
  serve it (actors/control/readiness.py); ``control.cluster.update`` takes autolock too
  (actors/control/unlock.py). ``swarm leave`` sits outside the gate: a manager that
  knows no leader is refused in Docker's words (`manager_leave_refusal`) and leaves with
  ``--force``.
- ``hello`` (published key): the CA's ``ca.hello`` only.
- Every endpoint answers ``version``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from actors.ca.authorization import authorize
from actors.control import control_handlers
from actors.control.cluster import cluster_handlers
from actors.control.cluster_ca import ca_handlers
from actors.control.engine_certs import engine_cert_handlers
from actors.control.errors import ControlError
from actors.control.raft_members import live_manager_status
from actors.control.readiness import ReadinessGate
from actors.control.unlock import unlock_handlers
from actors.dispatcher import dispatcher_handlers
from actors.logs.handlers import log_control_handlers, log_remote_handlers
from actors.node.leaving import leave_handler
from actors.node.membership.join import RAFT_JOIN, raft_join_handler
from actors.node.membership.leave import leave_refusal, manager_counts
from actors.node.tree.endpoints import (
    HandlerFactory,
    HandlerTable,
    version_handlers,
    with_handlers,
)
from actors.node.tree.manager_raft import raft_handlers, raft_view, startup_state
from actors.store import nodes
from actors.supervisor import Directory

if TYPE_CHECKING:
    from actors.node.tree.manager_parts import ManagerParts

__all__ = ["manager_endpoint_tables", "manager_leave_refusal"]


def manager_endpoint_tables(parts: ManagerParts) -> dict[str, HandlerFactory]:
    """What each endpoint serves, by endpoint name (tests/security reads them)."""
    version = version_handlers(parts.identity, parts.role)
    remote = with_handlers(version, partial(_remote_handlers, parts))
    admission = parts.admission
    return {
        "remote": lambda peers: authorize(remote(peers), admission),
        "control": with_handlers(
            with_handlers(version, partial(_control_handlers, parts)),
            partial(_leave_handlers, parts),
        ),
        "hello": partial(_hello_handlers, parts),
    }


def _remote_handlers(parts: ManagerParts, _peers: Directory) -> HandlerTable:
    return {
        **raft_handlers(parts.raft),
        **dispatcher_handlers(
            parts.dispatcher, parts.admission.certified_node, parts.ca.trust_summary
        ),
        **log_remote_handlers(parts.log_broker.find, parts.admission.certified_node),
        **parts.ca.handlers(),
        RAFT_JOIN: raft_join_handler(
            parts.raft,
            parts.store,
            parts.admission,
            parts.directory.entries,
            lambda: parts.membership.bootstrap_voters or (),
        ),
    }


def _hello_handlers(parts: ManagerParts, _peers: Directory) -> HandlerTable:
    return parts.ca.hello_handlers()


def _control_handlers(parts: ManagerParts, _peers: Directory) -> HandlerTable:
    store, raft, ca = parts.store, parts.raft, parts.ca
    table = {
        **control_handlers(store, raft_view=lambda: raft_view(raft)),
        **cluster_handlers(store, rotate_token=ca.rotate_token),
        **ca_handlers(store, rotate_root=ca.rotate_root),
        **engine_cert_handlers(ca.engine_certificate),
        **log_control_handlers(parts.log_broker.find, parts.log_relay),
        "control.events": parts.events.handler(),
    }
    # control.cluster.update takes autolock too (actors/control/unlock.py)
    table = {**table, **unlock_handlers(store, table.get("control.cluster.update"))}
    # calls made while this manager starts wait until it can serve them
    return ReadinessGate(lambda: startup_state(raft, store)).guard(table)


def _leave_handlers(parts: ManagerParts, _peers: Directory) -> HandlerTable:
    """``swarm leave``, outside the readiness gate: a manager that knows no leader is
    refused in Docker's words, and leaves with ``--force``."""
    return leave_handler(
        parts.setup.on_leave, partial(manager_leave_refusal, parts), parts.setup.leave_timeout
    )


def manager_leave_refusal(parts: ManagerParts, force: bool) -> str | None:
    """Docker's refusal of a manager's leave, its counts from the managers' live
    status (as ``node ls`` shows it: Raft's view over this manager's store)."""
    if force:
        return None
    node = parts.raft.node
    counts = None
    if node is not None and node.leader_id:
        try:
            view = raft_view(parts.raft)
        except ControlError:
            view = None  # Docker's message without counts, as when it cannot list
        if view is not None:
            counts = parts.store.view(
                lambda tx: manager_counts(
                    [
                        replace(n, manager_status=live_manager_status(n, view))
                        for n in nodes.list_all(tx)
                    ],
                    parts.identity.node_id,
                )
            )
    return leave_refusal(parts.role, force, serving=node is not None, counts=counts)
