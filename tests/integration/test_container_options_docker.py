"""The kernel-facing container options land on the real engine's container: read-only
root (a write is refused), init, TTY, groups, capabilities, ulimits, sysctls, DNS and
hosts entries, each seen in ``docker inspect`` and from inside the container."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors.docker import DockerExecutor
from actors.worker.executors.docker_config import LABEL_NODE_ID
from actors.worker.worker import Worker
from api.specs import DNSConfig, Ulimit
from api.task_state import TaskState
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import Recorder, make_task, state_is

pytestmark = pytest.mark.docker

# what the container reports of itself, one line each, then waits
_PROBE = (
    "if touch /probe 2>/dev/null; then echo root=writable; else echo root=refused; fi; "
    "echo nofile=$(ulimit -n); echo somaxconn=$(cat /proc/sys/net/core/somaxconn); "
    "echo groups=$(id -G); echo pid1=$(cat /proc/1/comm); "
    "if [ -t 1 ]; then echo tty=yes; else echo tty=no; fi; "
    "cat /etc/hosts /etc/resolv.conf; echo probe-done; sleep 300"
)


@pytest.fixture
def node_id() -> str:
    return f"testnode{uuid.uuid4().hex[:12]}"


@pytest.fixture
def worker(tmp_path: Path, node_id: str, docker_client: Any) -> Iterator[Any]:
    ref = Worker.start(
        executor=DockerExecutor(node_id, docker_client),
        state_dir=tmp_path,
        node_id=node_id,
        reporter=Recorder(),
        flush_interval=0.05,
    )
    yield ref
    if ref.is_alive():
        ref.stop()
    for container in docker_client.api.containers(
        all=True, filters={"label": f"{LABEL_NODE_ID}={node_id}"}
    ):
        docker_client.api.remove_container(container["Id"], force=True)


def test_each_option_lands_on_the_container(
    worker: Any, test_image: str, node_id: str, docker_client: Any
) -> None:
    task = make_task(
        uuid.uuid4().hex[:25], image=test_image, command=("sh", "-c", _PROBE), node_id=node_id
    )
    container = dataclasses.replace(
        task.spec.container,
        read_only=True,
        init=True,
        tty=True,
        groups=("1234", "2345"),
        cap_add=("CAP_SYS_TIME",),
        cap_drop=("CAP_NET_RAW",),
        ulimits=(Ulimit("nofile", 512, 1024),),
        sysctls={"net.core.somaxconn": "777"},
        dns_config=DNSConfig(("10.9.8.7",), ("corp.example",), ("ndots:3",)),
        hosts=("10.1.2.3 db db.local",),
    )
    task = dataclasses.replace(task, spec=dataclasses.replace(task.spec, container=container))
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, task.id, TaskState.RUNNING), what="running")
    container_id = status.container_status.container_id
    info = docker_client.api.inspect_container(container_id)
    host = info["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["Init"] is True
    assert info["Config"]["Tty"] is True
    assert host["GroupAdd"] == ["1234", "2345"]
    assert host["CapAdd"] == ["CAP_SYS_TIME"] and host["CapDrop"] == ["CAP_NET_RAW"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 1024}]
    assert host["Sysctls"] == {"net.core.somaxconn": "777"}
    assert host["Dns"] == ["10.9.8.7"]
    assert host["DnsSearch"] == ["corp.example"]
    assert host["DnsOptions"] == ["ndots:3"]
    assert host["ExtraHosts"] == ["db:10.1.2.3", "db.local:10.1.2.3"]

    def probe() -> str | None:
        out = docker_client.api.logs(container_id).decode()
        return out if "probe-done" in out else None

    seen = wait_for(probe, what="the container's probe").replace("\r\n", "\n")
    assert "root=refused" in seen  # the read-only root refuses a write
    assert "nofile=512" in seen
    assert "somaxconn=777" in seen
    assert "1234" in seen and "2345" in seen  # id -G
    assert "pid1=docker-init" in seen
    assert "tty=yes" in seen
    assert "10.1.2.3\tdb" in seen or "10.1.2.3 db" in seen
    assert "nameserver 10.9.8.7" in seen and "search corp.example" in seen
    assert "options ndots:3" in seen
