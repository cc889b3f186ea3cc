"""The kernel-facing container options land on the real engine's container: read-only
root (a write is refused), init, TTY, groups, capabilities, ulimits, sysctls, DNS and
hosts entries, each seen in ``docker inspect`` and from inside the container."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest

from api.specs import DNSConfig, Ulimit
from api.task_state import TaskState
from tests.support import docker_worker as workers
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import make_task, state_is

pytestmark = pytest.mark.docker

# what the container reports of itself, one line each, then waits
_PROBE = (
    "if touch /probe 2>/dev/null; then echo root=writable; else echo root=refused; fi; "
    "echo nofile=$(ulimit -n); echo somaxconn=$(cat /proc/sys/net/core/somaxconn); "
    "echo groups=$(id -G); echo pid1=$(cat /proc/1/comm); "
    "if [ -t 1 ]; then echo tty=yes; else echo tty=no; fi; "
    "cat /etc/hosts /etc/resolv.conf; echo probe-done; sleep 300"
)


node_id, worker = workers.node_id, workers.worker  # the fixtures


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


def test_swarmctl_create_inspect_and_update(
    docker_node: Any, test_image: str, docker_client: Any, tmp_path: Path
) -> None:
    """``swarmctl service create --env-file ... --read-only ...`` through a real manager:
    the container has them, ``inspect --pretty`` shows them, ``update`` turns one off."""
    env_file = tmp_path / "app.env"
    env_file.write_text("# settings\nCOLOR=blue\n\nSIZE=3\n")
    node = docker_node
    created = node.ctl(
        "service", "create", "--name", "ro", "--env-file", str(env_file), "--env", "SIZE=4",
        "--read-only", "--cap-drop", "net_raw", "--ulimit", "nofile=256",
        "--host", "db:10.1.2.3", test_image, "sleep", "600",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    [task] = wait_for(lambda: node.running("ro") or None, "a running task")
    info = docker_client.api.inspect_container(task["container_id"])
    env = info["Config"]["Env"]  # the file's entries first, then --env's
    assert env.index("COLOR=blue") < env.index("SIZE=3") < env.index("SIZE=4")
    host = info["HostConfig"]
    assert host["ReadonlyRootfs"] and host["CapDrop"] == ["CAP_NET_RAW"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 256, "Hard": 256}]
    assert host["ExtraHosts"] == ["db:10.1.2.3"]
    pretty = node.ctl("service", "inspect", "--pretty", "ro").stdout
    for shown in ("Read-Only Root:", "Capabilities Dropped:", "Ulimits:", "Hosts:"):
        [line] = [ln for ln in pretty.splitlines() if ln.strip().startswith(shown)]
        assert line.split(":", 1)[1].strip() not in ("-", "no"), line
    updated = node.ctl("service", "update", "--read-only=false", "--host-rm", "db", "ro")
    assert updated.returncode == 0, updated.stderr

    def replaced() -> dict[str, Any] | None:
        found = [t for t in node.running("ro") if t["container_id"] != task["container_id"]]
        return found[0] if found else None

    new = wait_for(replaced, "the updated task", timeout=60)
    host = docker_client.api.inspect_container(new["container_id"])["HostConfig"]
    assert not host["ReadonlyRootfs"] and not host["ExtraHosts"]
    assert host["CapDrop"] == ["CAP_NET_RAW"]  # untouched
    # the bad value: swarmctl refuses it before anything is sent, naming it
    refused = node.ctl("service", "update", "--ulimit-add", "nofile=9:1", "ro")
    assert refused.returncode == 1
    assert "nofile: the soft limit 9 is over the hard limit 1" in refused.stderr


def test_a_tty_services_logs_are_read(docker_node: Any, test_image: str) -> None:
    """A TTY container's log stream is not multiplexed: ``service logs`` still reads it."""
    node = docker_node
    created = node.ctl(
        "service", "create", "--name", "tty", "-t", test_image,
        "sh", "-c", "echo hello-from-a-tty; sleep 600",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    def logged() -> str | None:
        out = node.ctl("service", "logs", "--raw", "tty").stdout
        return out if "hello-from-a-tty" in out else None

    assert wait_for(logged, "the tty's line in service logs").strip() == "hello-from-a-tty"
