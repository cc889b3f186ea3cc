"""A node's networks on its engine: created when the first task that needs one is
prepared, removed when no container is attached any more.

Rules:
- One bridge per cluster network and node (docker_config.py `engine_network`), found by
  its labels (network id, node id), never by name alone: a network of the same name that
  is not ours is refused, not used.
- ``lock`` serialises what could race on one node: a task creating its container on a
  network (ensure, create, connect) and a task leaving it (remove the container, prune),
  so a network is never removed under a container about to join it.
- Pruning removes only networks labelled with this node's id that have no container, not
  even a created one that has not started (the engine lists no endpoint for it); the
  engine refusing (an endpoint appeared meanwhile) leaves the network for the next prune.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from actors.log import get_logger
from actors.worker.executors.base import ContainerNotFoundError, EngineError, InvalidTaskError
from actors.worker.executors.docker_config import LABEL_NETWORK_ID, LABEL_NODE_ID, EngineNetwork
from actors.worker.executors.docker_errors import edge

__all__ = ["EngineNetworks"]

_log = get_logger("worker")


class EngineNetworks:
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.lock = threading.RLock()

    def _ours(self, api: Any, network_id: str | None = None) -> list[dict[str, Any]]:
        labels = [f"{LABEL_NODE_ID}={self.node_id}"]
        labels.append(f"{LABEL_NETWORK_ID}={network_id}" if network_id else LABEL_NETWORK_ID)
        with edge("list networks"):
            found: list[dict[str, Any]] = api.networks(filters={"label": labels})
        return found

    def ensure(self, api: Any, networks: Sequence[EngineNetwork]) -> None:
        """Each of ``networks`` exists on the engine (hold ``lock``)."""
        for network in networks:
            if self._ours(api, network.network_id):
                continue
            with edge("list networks"):
                same_name = [
                    n for n in api.networks(names=[network.name]) if n.get("Name") == network.name
                ]
            if same_name:
                raise InvalidTaskError(
                    f"the engine has a network named {network.name} that swarmnode did not "
                    "create: remove or rename it"
                )
            with edge(f"create network {network.name}"):
                api.create_network(**network.create_kwargs())
            _log.info("worker.network.created", network=network.name, network_id=network.network_id)

    def connect(self, api: Any, container: str, networks: Sequence[EngineNetwork]) -> None:
        """Join ``container`` to ``networks`` it is not on yet (before it starts)."""
        if not networks:
            return
        with edge("inspect container"):
            info = api.inspect_container(container)
        joined = set((info.get("NetworkSettings") or {}).get("Networks") or {})
        for network in networks:
            if network.name in joined:
                continue
            with edge(f"connect to network {network.name}"):
                api.connect_container_to_network(
                    container, network.name, aliases=list(network.aliases)
                )

    def prune(self, api: Any, network_ids: Iterable[str] | None = None) -> None:
        """Remove this node's networks (of ``network_ids``, or all) that no container
        uses (hold ``lock``)."""
        if network_ids is None:
            candidates = self._ours(api)
        else:
            candidates = [n for i in set(network_ids) for n in self._ours(api, i)]
        for network in candidates:
            name = str(network.get("Name", ""))
            try:
                with edge("inspect network"):
                    info = api.inspect_network(network["Id"])
                if info.get("Containers"):
                    continue
                # a created container not started yet has no endpoint in Containers (nor a
                # network id in its settings), but its start needs the network: the
                # container list's filter by network name still finds it
                with edge("list containers"):
                    if api.containers(all=True, quiet=True, filters={"network": name}):
                        continue
                with edge(f"remove network {name}"):
                    api.remove_network(network["Id"])
            except ContainerNotFoundError:
                continue  # removed meanwhile
            except EngineError as exc:
                _log.warning("worker.network.remove_failed", network=name, error=str(exc))
                continue
            _log.info("worker.network.removed", network=name)
