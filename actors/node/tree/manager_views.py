"""What a manager shows beside the control API, all from its own store and Raft member:
its scrape-time metrics and the live web view.

Rules:
- Both read the store this manager applies (cluster-wide, as every manager has it) and
  Raft through the `RaftHolder`, so a restart of the raft child is followed.
- A metrics scrape skips Raft when the member is not running or too busy to answer
  (`actors/node/tree/manager_raft.py` `raft_status`); it never fails the scrape.
- The web view is a child only with ``--web-addr``, placed early in the tree like
  metrics, so a taken port stops the start at once.
"""

from __future__ import annotations

from actors.metrics.cluster import ClusterCollector
from actors.metrics.raft import RaftCollector
from actors.metrics.registry import Collector
from actors.node.config import NodeConfig
from actors.node.tree.leader_group import RaftHolder
from actors.node.tree.manager_raft import raft_status, raft_view
from actors.store import MemoryStore
from actors.supervisor import ChildSpec
from actors.web.child import web_child

__all__ = ["manager_collectors", "manager_web_children"]


def manager_collectors(store: MemoryStore, holder: RaftHolder) -> list[Collector]:
    """A manager's own scrape-time metrics: its store's (cluster-wide) and Raft's."""
    return [ClusterCollector(store), RaftCollector(lambda: raft_status(holder))]


def manager_web_children(
    config: NodeConfig, store: MemoryStore, holder: RaftHolder
) -> list[ChildSpec]:
    """The live web view when ``--web-addr`` is given (early in the tree, as metrics:
    a taken port stops the start at once), fed by this manager's own store."""
    if config.web_addr is None:
        return []

    def leaderless_for() -> float | None:
        node = holder.node
        return None if node is None else node.leaderless_seconds

    return [
        web_child(
            config.web_addr,
            store,
            token=config.web_token,
            control_socket=config.listen_control_api,
            leaderless_for=leaderless_for,
            raft_view=lambda: raft_view(holder),
            stop_timeout=config.stop_timeout,
        )
    ]
