"""What a task takes of its node on the worker's side, without an engine: the container
configuration of ports, mounts and networks, the image pull's progress and failures, the
networks and credentials a session brings, and what the process executor refuses."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.dispatcher.networks_and_auth import ServiceAuth
from actors.worker.controller import Action, Outcome, step, with_progress
from actors.worker.executors.base import Observation, RuntimeState
from actors.worker.executors.docker_config import (
    LABEL_NETWORK_ID,
    LABEL_NODE_ID,
    VolumeCreate,
    container_config,
    engine_network,
    port_status,
    task_aliases,
    volumes_to_create,
)
from actors.worker.executors.docker_pull import PullProgress, auth_config, pull_failure
from actors.worker.executors.process_policy import refused_fields
from actors.worker.resources import TaskResources
from api.enums import MountType, PortProtocol, PublishMode
from api.objects import Network, RegistryAuth, Task, TaskStatus
from api.specs import (
    ContainerSpec,
    Mount,
    NetworkAttachmentConfig,
    NetworkSpec,
    PortConfig,
    TaskSpec,
    VolumeDriver,
    VolumeOptions,
)
from api.task_state import TaskState

NODE = "abcdefghijklmnopqrstuvwxy"
BACKEND = Network(id="n" * 25, spec=NetworkSpec(name="backend", internal=True))


def make_task(task_id: str = "t1", service_id: str = "s1", **spec: object) -> Task:
    return Task(
        id=task_id,
        service_id=service_id,
        service_name="web",
        slot=1,
        node_id=NODE,
        spec=TaskSpec(**{"container": ContainerSpec(image="img"), **spec}),  # type: ignore[arg-type]
    )


# --- container configuration ------------------------------------------------------------


def test_ports_are_host_bindings_on_the_publish_address() -> None:
    host = PublishMode.HOST
    ports = (
        PortConfig(target_port=80, published_port=8080, publish_mode=host),
        PortConfig(target_port=80, published_port=8081, publish_mode=host),
        PortConfig(protocol=PortProtocol.UDP, target_port=53, publish_mode=host),
        # the routing mesh listens on 8082 and forwards to the port the engine picks
        PortConfig(target_port=81, published_port=8082, publish_mode=PublishMode.INGRESS),
    )
    config = container_config(make_task(ports=ports), publish_ip="127.0.0.9")
    assert config.create_kwargs()["ports"] == [(53, "udp"), (80, "tcp"), (81, "tcp")]
    assert config.host_config_kwargs()["port_bindings"] == {
        "80/tcp": [
            {"HostIp": "127.0.0.9", "HostPort": "8080"},
            {"HostIp": "127.0.0.9", "HostPort": "8081"},
        ],
        "53/udp": [{"HostIp": "127.0.0.9", "HostPort": ""}],  # the engine picks
        "81/tcp": [{"HostIp": "127.0.0.9", "HostPort": ""}],
    }


def test_port_status_reads_what_the_engine_bound() -> None:
    engine = {
        "80/tcp": [
            {"HostIp": "0.0.0.0", "HostPort": "32768"},
            {"HostIp": "::", "HostPort": "32768"},
        ],
        "53/udp": [{"HostIp": "", "HostPort": "5353"}],
        "9/tcp": None,  # exposed, not published
    }
    host = PublishMode.HOST
    assert port_status(engine) == (
        PortConfig(
            protocol=PortProtocol.UDP, target_port=53, published_port=5353, publish_mode=host
        ),
        PortConfig(target_port=80, published_port=32768, publish_mode=host),
    )
    assert port_status(None) == ()


def test_port_status_keeps_the_ipv4_port_when_the_families_differ() -> None:
    # an engine that picks a port per address family: the IPv4 one reaches the task from
    # another node (and from the routing mesh)
    engine = {
        "80/tcp": [
            {"HostIp": "0.0.0.0", "HostPort": "32776"},
            {"HostIp": "::", "HostPort": "32775"},
        ],
        "81/tcp": [{"HostIp": "::1", "HostPort": "4000"}],  # IPv6 only: kept
    }
    assert [(p.target_port, p.published_port) for p in port_status(engine)] == [
        (80, 32776),
        (81, 4000),
    ]


def test_mounts_go_to_the_engine_as_given() -> None:
    mounts = (
        Mount(MountType.VOLUME, "data", "/data"),
        Mount(MountType.BIND, "/srv", "/srv", readonly=True),
        Mount(MountType.TMPFS, "", "/scratch"),
    )
    config = container_config(make_task(container=ContainerSpec(image="img", mounts=mounts)))
    assert config.host_config_kwargs()["mounts"] == [
        {"Type": "volume", "Source": "data", "Target": "/data", "ReadOnly": False},
        {"Type": "bind", "Source": "/srv", "Target": "/srv", "ReadOnly": True},
        {"Type": "tmpfs", "Target": "/scratch", "ReadOnly": False},
    ]


def test_volume_options_go_to_the_engine_and_named_volumes_are_created_first() -> None:
    tmpfs = VolumeOptions(
        labels={"team": "web"}, driver=VolumeDriver("local", {"type": "tmpfs", "device": "x"})
    )
    mounts = (
        Mount(MountType.VOLUME, "scratch", "/d", volume_options=tmpfs),
        Mount(MountType.VOLUME, "", "/anon", volume_options=tmpfs),  # the engine's to make
        Mount(MountType.VOLUME, "plain", "/p", volume_options=VolumeOptions(nocopy=True)),
    )
    config = container_config(make_task(container=ContainerSpec(image="img", mounts=mounts)))
    first = config.host_config_kwargs()["mounts"][0]
    assert first["VolumeOptions"] == {
        "NoCopy": False,
        "Labels": {"team": "web"},
        "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "x"}},
    }
    assert config.host_config_kwargs()["mounts"][2]["VolumeOptions"] == {
        "NoCopy": True,
        "Labels": {},
    }
    assert volumes_to_create(config.mounts) == (
        VolumeCreate("scratch", "local", {"type": "tmpfs", "device": "x"}, {"team": "web"}),
    )


def test_a_task_answers_to_its_service_name_and_tasks_dot_name_and_its_aliases() -> None:
    assert task_aliases("web", ("db", "web", "")) == ("web", "tasks.web", "db")
    assert task_aliases("", ("db",)) == ("db",)


def test_networks_one_bridge_per_node_joined_under_the_service_name() -> None:
    first = engine_network(BACKEND, NODE, ("web", "db"))
    other = engine_network(Network(id="m" * 25, spec=NetworkSpec(name="front")), NODE, ("web",))
    assert first.name == "backend-abcdefghijkl"
    assert first.labels == {LABEL_NETWORK_ID: BACKEND.id, LABEL_NODE_ID: NODE}
    assert first.create_kwargs()["internal"] is True
    config = container_config(make_task(), networks=(first, other))
    assert config.host_config_kwargs()["network_mode"] == "backend-abcdefghijkl"
    assert config.create_kwargs()["networking_config"] == {
        "EndpointsConfig": {"backend-abcdefghijkl": {"Aliases": ["web", "db"]}}
    }


# --- pulls -----------------------------------------------------------------------------


def test_credentials_go_only_to_their_registry() -> None:
    auth = RegistryAuth("http://127.0.0.1:5000", "alice", "pw")
    assert auth_config("127.0.0.1:5000/app:1", auth) == {
        "serveraddress": "http://127.0.0.1:5000",
        "username": "alice",
        "password": "pw",
    }
    assert auth_config("127.0.0.1:5001/app:1", auth) is None
    assert auth_config("busybox", auth) is None
    assert auth_config("busybox", None) is None
    token = RegistryAuth("https://index.docker.io/v1/", "", "", "tok")
    assert auth_config("busybox", token) == {
        "serveraddress": "https://index.docker.io/v1/",
        "username": "",
        "identitytoken": "tok",
    }


@pytest.mark.parametrize(
    ("reason", "with_auth", "missing", "fragment"),
    [
        ("manifest for r/a:nope not found: manifest unknown", True, True, "not found"),
        ("Head ...: no basic auth credentials", False, False, "--with-registry-auth"),
        ("unauthorized: authentication required", True, False, "refused the credentials"),
        ("unauthorized: authentication required", False, False, "wants credentials"),
        ("dial tcp 127.0.0.1:1: connect: connection refused", False, False, "failed"),
    ],
)
def test_pull_failures_say_which(
    reason: str, with_auth: bool, missing: bool, fragment: str
) -> None:
    got_missing, message = pull_failure("r/a:1", reason, with_auth=with_auth)
    assert got_missing is missing
    assert fragment in message and reason in message


def test_pull_progress_is_summed_and_paced() -> None:
    now = [0.0]
    progress = PullProgress("app:1", clock=lambda: now[0], interval=1.0)
    assert progress.emit() == "pulling image app:1"
    now[0] = 0.5
    progress.feed({"status": "Pulling from app", "id": "1"})
    progress.feed({"status": "Pulling fs layer", "id": "a"})
    progress.feed(
        {"status": "Downloading", "id": "b", "progressDetail": {"current": 512, "total": 2048}}
    )
    assert progress.emit() is None  # half a second later
    progress.feed({"status": "Pull complete", "id": "a"})
    now[0] = 1.0
    line = progress.emit()
    assert line == "pulling image app:1: 1 of 2 layers, 512B of 2KiB"
    assert progress.emit(final=True) is not None


# --- the task's status -------------------------------------------------------------------


def test_progress_only_changes_a_preparing_tasks_message() -> None:
    preparing = TaskStatus(state=TaskState.PREPARING, message="preparing", timestamp=5.0)
    moved = with_progress(preparing, "pulling image app:1")
    assert (moved.message, moved.timestamp) == ("pulling image app:1", 5.0)
    running = replace(preparing, state=TaskState.RUNNING)
    assert with_progress(running, "pulling image app:1") is running


def test_a_running_container_reports_its_ports() -> None:
    ports = (PortConfig(target_port=80, published_port=32768),)
    status = TaskStatus(state=TaskState.STARTING)
    outcome = Outcome(Action.INSPECT, observation=Observation(RuntimeState.RUNNING, ports=ports))
    decision = step(
        desired=TaskState.RUNNING, status=status, outcome=outcome, removing=False, now=1.0
    )
    assert decision.status.state is TaskState.RUNNING
    assert decision.status.port_status == ports


# --- what a session brings -------------------------------------------------------------


def test_the_book_keeps_only_what_unfinished_tasks_need() -> None:
    book = TaskResources()
    auth = RegistryAuth("127.0.0.1:5000", "u", "p")
    attached = (NetworkAttachmentConfig(BACKEND.id),)
    a = make_task("a", "s1", networks=attached)
    b = make_task("b", "s2")
    book.apply(
        full=True,
        tasks=[a, b],
        removed=[],
        networks=[BACKEND],
        auths=[ServiceAuth("s1", auth), ServiceAuth("s2", auth)],
    )
    assert book.network(BACKEND.id) == BACKEND and book.registry_auth("s1") == auth
    book.apply(full=False, tasks=[], removed=["b"])
    assert book.held() == (frozenset({BACKEND.id}), frozenset({"s1"}))
    done = replace(a, status=TaskStatus(state=TaskState.COMPLETE))
    book.apply(full=False, tasks=[done], removed=[])
    assert book.held() == (frozenset(), frozenset())
    book.apply(
        full=True, tasks=[a], removed=[], networks=[BACKEND], auths=[ServiceAuth("s1", auth)]
    )
    book.apply(full=True, tasks=[], removed=[])  # a new session's full set without it
    assert book.held() == (frozenset(), frozenset())


def test_the_process_executor_refuses_what_it_cannot_honour() -> None:
    assert refused_fields(TaskSpec(container=ContainerSpec(command=("top",))), ()) is None
    refused = refused_fields(
        TaskSpec(
            container=ContainerSpec(command=("top",), mounts=(Mount(target="/d"),)),
            ports=(PortConfig(target_port=80),),
            networks=(NetworkAttachmentConfig("n"),),
        ),
        (),
    )
    assert refused is not None
    for word in ("published ports", "mounts", "networks", "docker executor"):
        assert word in refused
