"""The pure Docker container configuration of a task."""

from __future__ import annotations

import pytest

from actors.worker.executors.docker_config import (
    LABEL_NODE_ID,
    LABEL_SERVICE_ID,
    LABEL_SERVICE_NAME,
    LABEL_SLOT,
    LABEL_TASK_ID,
    container_config,
    container_name,
    stop_signal_name,
)
from api.objects import Task
from api.specs import ContainerSpec, HealthConfig, ResourceRequirements, Resources, TaskSpec


def make_task(**container: object) -> Task:
    spec = TaskSpec(
        container=ContainerSpec(image="img:1", **container),  # type: ignore[arg-type]
        resources=ResourceRequirements(
            limits=Resources(nano_cpus=500_000_000, memory_bytes=64 << 20)
        ),
    )
    return Task(
        id="task1", service_id="svc1", service_name="web", slot=3, node_id="node1", spec=spec
    )


def test_names_follow_swarm_mode() -> None:
    task = make_task()
    assert container_name(task) == "web.3.task1"
    global_task = Task(id="t2", service_name="agent", slot=0, node_id="nodeX")
    assert container_name(global_task) == "agent.nodeX.t2"
    assert container_name(Task(id="t3", slot=1)) == "task.1.t3"


def test_labels_env_command_user_limits() -> None:
    config = container_config(
        make_task(
            command=("/bin/sh", "-c"),
            args=("echo hi",),
            env=("A=1", "B=two"),
            labels={"team": "x", LABEL_TASK_ID: "spoofed"},
            user="nobody",
            dir="/tmp",
            stop_signal="INT",
            stop_grace_period=2.5,
        )
    )
    kwargs = config.create_kwargs()
    assert kwargs["name"] == "web.3.task1"
    assert kwargs["labels"] == {
        "team": "x",
        LABEL_TASK_ID: "task1",
        LABEL_SERVICE_ID: "svc1",
        LABEL_NODE_ID: "node1",
        LABEL_SERVICE_NAME: "web",
        LABEL_SLOT: "3",
    }
    assert kwargs["entrypoint"] == ["/bin/sh", "-c"]
    assert kwargs["command"] == ["echo hi"]
    assert kwargs["environment"] == ["A=1", "B=two"]
    assert kwargs["user"] == "nobody" and kwargs["working_dir"] == "/tmp"
    assert kwargs["stop_signal"] == "SIGINT"
    assert kwargs["stop_timeout"] == 3  # rounded up to whole seconds
    assert config.host_config_kwargs() == {"nano_cpus": 500_000_000, "mem_limit": 64 << 20}


def test_empty_command_and_args_keep_the_images() -> None:
    kwargs = container_config(make_task()).create_kwargs()
    assert "entrypoint" not in kwargs and "command" not in kwargs
    assert "stop_signal" not in kwargs and "healthcheck" not in kwargs
    kwargs = container_config(make_task(args=("sleep", "1"))).create_kwargs()
    assert "entrypoint" not in kwargs and kwargs["command"] == ["sleep", "1"]


def test_healthcheck_in_nanoseconds() -> None:
    health = HealthConfig(
        test=("CMD-SHELL", "test -f /tmp/ok"),
        interval=0.5,
        timeout=2.0,
        retries=3,
        start_period=1.0,
    )
    kwargs = container_config(make_task(healthcheck=health)).create_kwargs()
    assert kwargs["healthcheck"] == {
        "test": ["CMD-SHELL", "test -f /tmp/ok"],
        "interval": 500_000_000,
        "timeout": 2_000_000_000,
        "retries": 3,
        "start_period": 1_000_000_000,
    }


def test_stop_signals() -> None:
    assert stop_signal_name("15") == "SIGTERM"
    assert stop_signal_name("sigkill") == "SIGKILL"
    assert stop_signal_name("") == ""
    with pytest.raises(ValueError, match="unknown stop signal"):
        stop_signal_name("SIGNOPE")
    with pytest.raises(ValueError, match="unknown stop signal"):
        container_config(make_task(stop_signal="bogus"))


def test_no_image_is_refused() -> None:
    with pytest.raises(ValueError, match="no image"):
        container_config(Task(id="t"))


def test_container_options_go_to_the_engine() -> None:
    from api.specs import DNSConfig, Ulimit

    config = container_config(
        make_task(
            read_only=True,
            init=True,
            tty=True,
            groups=("audio", "1001"),
            cap_add=("CAP_NET_ADMIN",),
            cap_drop=("CAP_NET_RAW",),
            ulimits=(Ulimit("nofile", 1024, 2048),),
            sysctls={"net.core.somaxconn": "1024"},
            dns_config=DNSConfig(("10.0.0.2",), ("example.com",), ("ndots:2",)),
            hosts=("10.0.0.9 db db.local", "fd00::9 v6"),
        )
    )
    assert config.create_kwargs()["tty"] is True
    host = config.host_config_kwargs()
    assert {k: v for k, v in host.items() if k not in ("nano_cpus", "mem_limit")} == {
        "read_only": True,
        "init": True,
        "group_add": ["audio", "1001"],
        "cap_add": ["CAP_NET_ADMIN"],
        "cap_drop": ["CAP_NET_RAW"],
        "ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
        "sysctls": {"net.core.somaxconn": "1024"},
        "dns": ["10.0.0.2"],
        "dns_search": ["example.com"],
        "dns_opt": ["ndots:2"],
        "extra_hosts": ["db:10.0.0.9", "db.local:10.0.0.9", "v6:fd00::9"],
    }
    # the SDK builds a host config of them (its checks pass)
    from docker.types import HostConfig

    built = HostConfig(version="1.41", **host)
    assert built["ReadonlyRootfs"] and built["Init"] and built["Ulimits"][0]["Name"] == "nofile"
    # none given: none sent
    plain = container_config(make_task())
    assert "tty" not in plain.create_kwargs()
    assert set(plain.host_config_kwargs()) == {"nano_cpus", "mem_limit"}
