"""Service and node listings over one message's limit come whole, in frames: swarmctl's
``service ls`` and ``node ls``, and the Engine API's ``GET /services`` and ``GET /nodes``
(``docker service ls|ps|logs`` list services first, so all of them failed).

Found by running a real cluster: 80 services with specs of 120 KB (large ``--env``) made
``docker service ls`` answer "handler for 'control.service.ls' gave an invalid reply"
(a reply of 19 MB over the 16 MiB message limit), while their tasks ran. The control
endpoint here has a 64 KiB message limit, so 300 services and 300 nodes stand for that.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest
from aiohttp import web

from actors.ca.root import create_root_ca
from actors.control import ServiceControl, control_handlers
from actors.engine_api.app import engine_app
from actors.engine_api.child import ENGINE_RESOURCES
from actors.engine_api.control import ControlCaller
from actors.http import HttpServer, parse_http_address
from actors.store import clusters
from api.codec_objects import encode
from api.enums import NodeState
from api.objects import Node, NodeDescription, NodeStatus, RootCA
from api.specs import ContainerSpec, ServiceSpec, TaskSpec
from tests.integration.control_server import MANAGER_ID, seeded_store
from tests.integration.test_ctl_service import Ctl
from transport.endpoint import Endpoint

LIMIT = 64 * 1024
SERVICES = 300
NODES = 300  # besides the two seeded
ENV = [f"SETTING_{i}=" + "x" * 200 for i in range(4)]  # a service object of about 1.5 KB


@pytest.fixture
def many(tmp_path: Path) -> Iterator[Ctl]:
    store = seeded_store()
    control = ServiceControl(store)
    for i in range(SERVICES):
        spec = ServiceSpec(
            name=f"svc-{i:03d}", task=TaskSpec(container=ContainerSpec("busybox", env=ENV))
        )
        control.create({"spec": encode(spec)})

    root = create_root_ca(time.time(), random.Random(1))  # the Engine API shows nodes' roots

    def add_nodes(tx: Any) -> None:
        cluster = clusters.get_default(tx)
        assert cluster is not None
        tx.update(replace(cluster, root_ca=RootCA(ca_cert=root.cert_pem)))
        for i in range(NODES):
            tx.create(
                Node(
                    id=f"n{i:024d}",
                    description=NodeDescription(hostname=f"worker-{i:03d}"),
                    status=NodeStatus(state=NodeState.READY, addr="127.0.0.3"),
                )
            )

    store.update(add_nodes)
    socket = tmp_path / "control.sock"
    handlers = {
        **control_handlers(store),
        "version": lambda _request: {"node_id": MANAGER_ID, "role": "manager", "version": "test"},
    }
    endpoint = Endpoint(f"ipc://{socket}", handlers, name="control", max_message_size=LIMIT)
    endpoint.start()
    try:
        yield Ctl(socket, store)
    finally:
        endpoint.stop()


def test_swarmctl_lists_every_service_and_node_over_one_messages_limit(many: Ctl) -> None:
    listed = many.json("service", "ls")
    assert [s["name"] for s in listed] == [f"svc-{i:03d}" for i in range(SERVICES)]
    quiet = many.run("service", "ls", "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert len(quiet.stdout.split()) == SERVICES
    assert len(many.json("node", "ls")) == NODES + 2
    assert len(many.json("node", "ls", "--filter", "role=worker")) == NODES + 1


@pytest.fixture
def engine(many: Ctl, tmp_path: Path) -> Iterator[docker.APIClient]:
    sock = tmp_path / "engine.sock"
    # built as HttpServerActor builds it: the app needs the server it runs on
    server = HttpServer("engine", parse_http_address(f"unix://{sock}"), web.Application())
    server.app = engine_app(ControlCaller(f"ipc://{many.socket}"), server, ENGINE_RESOURCES)
    server.start()
    client = docker.APIClient(base_url=f"unix://{sock}", version="1.50", timeout=30)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def test_the_engine_apis_service_and_node_lists_gather_in_frames(
    engine: docker.APIClient,
) -> None:
    listed = engine.services()
    assert sorted(s["Spec"]["Name"] for s in listed) == [f"svc-{i:03d}" for i in range(SERVICES)]
    assert all(s["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ENV for s in listed)
    assert [s["Spec"]["Name"] for s in engine.services(filters={"name": "svc-007"})] == ["svc-007"]
    assert len(engine.nodes()) == NODES + 2
    assert engine.info()["Swarm"]["Nodes"] == NODES + 2
