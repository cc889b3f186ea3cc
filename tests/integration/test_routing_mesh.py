"""The routing mesh through real ``swarm-node`` processes, the real engine and the real
``swarmctl``: a port published in ingress mode (Docker's default) answers on every node,
whether or not it runs a task of the service; a port left out is allocated from
30000-32767; two services cannot share one; an update moves it and a removal frees it on
every node. Each node listens on its own 127.X.Y.N (``--mesh-addr``)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.support.httpd import http_get, serving
from tests.support.swarm import CtlError, Swarm, SwarmNode, free_port, poll

pytestmark = pytest.mark.docker
LONG = 60.0


def refused(host: str, port: int) -> bool:
    """Nothing listens on ``host:port`` (the mesh closed it)."""
    try:
        socket.create_connection((host, port), timeout=2.0).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


def running(node: SwarmNode, service: str) -> list[dict[str, Any]]:
    return [
        t
        for t in node.tasks(service)
        if t["state"] == "running" and t["desired_state"] == "running"
    ]


def test_an_ingress_port_answers_on_every_node(
    tmp_path: Path, docker_client: Any, test_image: str
) -> None:
    with Swarm(tmp_path, docker_client=docker_client, own_addresses=True) as swarm:
        assert swarm.addresses is not None
        m1 = swarm.start_node("m1", executor="docker", listen_host=swarm.addresses.take())
        m1.wait_ready()
        w1 = swarm.start_node(
            "w1",
            executor="docker",
            listen_host=swarm.addresses.take(),
            extra=m1.join_args(m1.join_token("worker")),
        )
        swarm.wait_cluster(1, 1)
        hosts = {"m1": m1.listen_host, "w1": w1.listen_host}
        port = free_port(m1.listen_host)
        m1.ctl_json(
            "service", "create", "--name", "web", "--replicas", "2",
            "--constraint", "node.role==worker", "-p", f"{port}:80", "--detach",
            test_image, *serving("mesh"),
        )  # fmt: skip
        tasks = poll(lambda: len(running(m1, "web")) == 2 and running(m1, "web"), "web", LONG)
        assert {t["node"] for t in tasks} == {"w1"}  # m1 runs none of them
        # each task published its target port on a port the engine picked
        picked = {p["published_port"] for t in tasks for p in t["ports"]}
        assert len(picked) == 2 and port not in picked

        # the manager, which runs no task, forwards to them; round robin reaches both
        seen: set[str] = set()

        def both() -> bool:
            seen.add(http_get(f"http://{hosts['m1']}:{port}/").split()[1])
            return len(seen) == 2

        poll(both, "both tasks through m1's mesh", LONG)
        assert http_get(f"http://{hosts['w1']}:{port}/").startswith("mesh ")
        [inspected] = m1.ctl_json("service", "inspect", "web")
        [spec_port] = inspected["spec"]["endpoint"]["ports"]
        assert (spec_port["published_port"], spec_port["publish_mode"]) == (port, "ingress")
        assert f"*:{port}->80/tcp" in m1.ctl("service", "ls").stdout  # Docker's PORTS column

        # another service cannot take the port
        with pytest.raises(CtlError, match="already published through the routing mesh by"):
            m1.ctl_json("service", "create", "--name", "b", "-p", f"{port}:80", test_image)

        # a port left out: the managers allocate one of 30000-32767, and it answers too
        m1.ctl_json("service", "update", "web", "--publish-add", "80", "--detach")
        [inspected] = m1.ctl_json("service", "inspect", "web")
        allocated = [
            p["published_port"]
            for p in inspected["spec"]["endpoint"]["ports"]
            if p["published_port"] != port
        ]
        assert len(allocated) == 1 and 30000 <= allocated[0] <= 32767
        body = poll(
            lambda: http_get(f"http://{hosts['m1']}:{allocated[0]}/"), "the allocated port", LONG
        )
        assert body.startswith("mesh ")

        # a port moved: the old one closes on every node, the new one answers
        moved = free_port(m1.listen_host)
        m1.ctl_json(
            "service", "update", "web", "--publish-rm", "80",
            "--publish-add", f"{moved}:80", "--detach",
        )  # fmt: skip
        for host in hosts.values():
            poll(lambda h=host: refused(h, port), f"{host}:{port} closed", LONG)
            poll(lambda h=host: http_get(f"http://{h}:{moved}/"), f"{host}:{moved}", LONG)

        # removed: the port closes on every node
        m1.ctl_json("service", "rm", "web")
        for host in hosts.values():
            poll(lambda h=host: refused(h, moved), f"{host}:{moved} closed", LONG)


def test_ingress_sctp_is_refused_naming_it(docker_node: SwarmNode, test_image: str) -> None:
    with pytest.raises(CtlError, match=r"53/sctp: the routing mesh .* TCP and UDP only"):
        docker_node.ctl_json("service", "create", "--name", "dns", "-p", "53:53/sctp", test_image)
