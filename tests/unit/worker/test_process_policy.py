"""What a process task gets of the node: its environment and its user (pure decisions)."""

from __future__ import annotations

from pathlib import PurePath

import pytest

from actors.worker.executors.process_policy import (
    MINIMAL_PATH,
    ProcessUserRefused,
    choose_process_user,
    is_within,
    refused_fields,
    task_environment,
)


def test_the_environment_is_the_specs_over_a_minimal_path_and_home() -> None:
    env = task_environment(["COLOR=blue", "EMPTY=", "BARE", "X=a=b"], "/work/t1")
    assert env == {
        "PATH": MINIMAL_PATH,
        "HOME": "/work/t1",
        "COLOR": "blue",
        "EMPTY": "",
        "BARE": "",
        "X": "a=b",
    }


def test_the_spec_may_set_path_and_home() -> None:
    env = task_environment(["PATH=/opt/bin", "HOME=/srv"], "/work/t1")
    assert env == {"PATH": "/opt/bin", "HOME": "/srv"}


def test_root_runs_process_tasks_as_nobody_unless_told() -> None:
    assert choose_process_user(None, euid=0, executor="process") == "nobody"
    assert choose_process_user("svc", euid=0, executor="process") == "svc"


def test_no_switch_when_not_root_or_not_the_process_executor() -> None:
    assert choose_process_user(None, euid=1000, executor="process") is None
    assert choose_process_user(None, euid=0, executor="docker") is None


@pytest.mark.parametrize(
    ("requested", "euid", "executor", "says"),
    [
        ("svc", 1000, "process", "needs swarm-node to run as root"),
        ("svc", 0, "docker", "process executor only"),
        ("  ", 0, "process", "wants a user name"),
    ],
)
def test_a_process_user_that_cannot_apply_is_refused(
    requested: str, euid: int, executor: str, says: str
) -> None:
    with pytest.raises(ProcessUserRefused, match=says):
        choose_process_user(requested, euid=euid, executor=executor)


def test_is_within() -> None:
    state = PurePath("/var/lib/swarm")
    assert is_within(PurePath("/var/lib/swarm"), state)
    assert is_within(PurePath("/var/lib/swarm/process/t1"), state)
    assert not is_within(PurePath("/var/lib/swarmnode"), state)
    assert not is_within(PurePath("/tmp/swarmnode-0/n1/t1"), state)


def test_fields_a_process_cannot_honour_are_refused() -> None:
    from api.specs import ContainerSpec, ResourceRequirements, Resources, TaskSpec

    def spec(**container: object) -> TaskSpec:
        return TaskSpec(container=ContainerSpec(image="x", command=("run",), **container))  # type: ignore[arg-type]

    users = ("nobody", "65534")
    assert refused_fields(spec(), users) is None
    assert refused_fields(spec(user="nobody"), users) is None
    assert refused_fields(spec(user="65534"), users) is None
    message = refused_fields(spec(user="root", hostname="h", labels={"a": "b"}), users)
    assert message == (
        "the process executor cannot honour user 'root' (its tasks run as nobody); hostname "
        "'h' (a process has the node's); container labels (a process has none): run the "
        "service on nodes with the docker executor (a placement constraint), or remove them "
        "from its spec"
    )
    limited = TaskSpec(
        container=ContainerSpec(image="x", command=("run",)),
        resources=ResourceRequirements(limits=Resources(nano_cpus=1, memory_bytes=1)),
    )
    assert "a CPU limit; a memory limit" in (refused_fields(limited, users) or "")
    reserved = TaskSpec(
        container=ContainerSpec(image="x", command=("run",)),
        resources=ResourceRequirements(reservations=Resources(nano_cpus=1, memory_bytes=1)),
    )
    assert refused_fields(reserved, users) is None  # the scheduler's business


def test_container_only_options_are_refused_by_their_flags() -> None:
    from api.specs import ContainerSpec, DNSConfig, TaskSpec, Ulimit

    container = ContainerSpec(
        image="x",
        command=("run",),
        read_only=True,
        cap_drop=("ALL",),
        ulimits=(Ulimit("nofile", 1, 1),),
        dns_config=DNSConfig(search=("example.com",)),
        hosts=("10.0.0.1 db",),
    )
    message = refused_fields(TaskSpec(container=container), ("nobody",))
    assert message is not None and message.startswith(
        "the process executor cannot honour --read-only, --cap-drop, --ulimit, --dns-search, "
        "--host (a process is no container: it has the node's): run the service on nodes "
        "with the docker executor"
    )
