"""A node's networks on the real engine (actors/worker/executors/docker_networks.py): a
prune leaves a network that a created, not yet started, container is configured for (the
engine lists no endpoint for it until it starts), and removes it once nothing needs it."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from actors.worker.executors.docker_config import LABEL_NETWORK_ID, engine_network
from actors.worker.executors.docker_networks import EngineNetworks
from api.objects import Network, NetworkSpec

pytestmark = pytest.mark.docker


def test_a_prune_spares_a_network_a_created_container_waits_to_join(
    docker_client: Any, test_image: str
) -> None:
    api = docker_client.api
    node_id = "n" + secrets.token_hex(8)
    network = engine_network(
        Network(id="net" + secrets.token_hex(6), spec=NetworkSpec(name="prunetest")), node_id
    )
    networks = EngineNetworks(node_id)
    label = {"label": f"{LABEL_NETWORK_ID}={network.network_id}"}
    container = None
    try:
        with networks.lock:
            networks.ensure(api, [network])
        container = api.create_container(
            test_image,
            ["sleep", "30"],
            networking_config={"EndpointsConfig": {network.name: {}}},
        )["Id"]
        with networks.lock:
            networks.prune(api)
        assert len(api.networks(filters=label)) == 1  # still there for the container's start
        api.start(container)
        api.remove_container(container, force=True)
        container = None
        with networks.lock:
            networks.prune(api)
        assert api.networks(filters=label) == []
    finally:
        if container is not None:
            api.remove_container(container, force=True)
        for found in api.networks(filters=label):
            api.remove_network(found["Id"])
