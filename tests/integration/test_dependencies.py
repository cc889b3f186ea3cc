"""Dependencies (issue 10 item 8) on a real ``swarm-node`` with the docker executor on the
real engine: a service waits (``service ps`` says for what) until the service it depends
on is healthy, or until a job has completed; cycles are refused."""

from __future__ import annotations

import pytest

from tests.support.swarm import CtlError, SwarmNode, poll

pytestmark = pytest.mark.docker

LONG = 90.0


@pytest.fixture
def node(docker_node: SwarmNode) -> SwarmNode:
    return docker_node


def test_a_service_waits_for_its_dependencies(node: SwarmNode, test_image: str) -> None:
    # db turns healthy only once /tmp/ready exists, which it creates 10 s in: api's wait
    # must last long enough for swarmctl calls to see it on a loaded machine (with 4 s, a
    # run at load 15 never saw it)
    node.ctl_json(
        "service", "create", "--detach", "--name", "db", "--health-cmd", "test -f /tmp/ready",
        "--health-interval", "1s", "--health-retries", "30", test_image,
        "sh", "-c", "sleep 10; touch /tmp/ready; sleep 300",
    )  # fmt: skip
    node.ctl_json(
        "service", "create", "--detach", "--name", "migrate", "--mode", "replicated-job",
        test_image, "sh", "-c", "sleep 2",
    )  # fmt: skip
    node.ctl_json(
        "service", "create", "--detach", "--name", "api", "--depends-on", "db:healthy",
        "--depends-on", "migrate:completed", test_image, "sleep", "300",
    )  # fmt: skip

    def waiting_message() -> str:
        rows = node.tasks("api")
        return str(rows[0]["message"]) if rows and rows[0]["state"] == "pending" else ""

    message = poll(
        lambda: "waiting for service" in waiting_message() and waiting_message(),
        "api waits, saying for what",
        LONG,
        describe=lambda: node.tasks("api"),
    )
    assert message.startswith(
        ("waiting for service db to be healthy", "waiting for service migrate to complete")
    )
    table = node.ctl("service", "ps", "api").stdout
    assert "waiting for service" in table, table
    poll(lambda: len(node.running("api")) == 1, "api running once both are met", LONG)
    # by then db passed its healthcheck and the migration completed
    (db,) = node.running("db")
    assert db["state"] == "running"
    migrate = next(r for r in node.ctl_json("service", "ls") if r["name"] == "migrate")
    assert migrate["job"]["state"] == "completed"


def test_cycles_and_unknown_services_are_refused(node: SwarmNode, test_image: str) -> None:
    node.ctl_json("service", "create", "--detach", "--name", "a", test_image, "sleep", "300")
    node.ctl_json(
        "service", "create", "--detach", "--name", "b", "--depends-on", "a", test_image,
        "sleep", "300",
    )  # fmt: skip
    with pytest.raises(CtlError) as refused:
        node.ctl_json("service", "update", "--detach", "--depends-on-add", "b", "a")
    assert "dependency cycle: a -> b -> a" in str(refused.value)
    with pytest.raises(CtlError) as refused:
        node.ctl_json(
            "service", "create", "--detach", "--name", "c", "--depends-on", "nope:running",
            test_image, "true",
        )  # fmt: skip
    assert "no such service" in str(refused.value)
    assert "c" not in {r["name"] for r in node.ctl_json("service", "ls")}
