"""What a frame's tasks need: the networks they attach to and their services' credentials,
only for tasks that may still run."""

from __future__ import annotations

from dataclasses import replace

from actors.dispatcher.networks_and_auth import ServiceAuth, dependencies_of
from api.objects import Network, RegistryAuth, Service, Task
from api.specs import NetworkAttachmentConfig, NetworkSpec, TaskSpec
from api.task_state import TaskState
from tests.unit.dispatcher.helpers import NODE_A, task

AUTH = RegistryAuth("127.0.0.1:5000", "u", "p")
NETS = {i: Network(id=i, spec=NetworkSpec(name=f"net-{i}")) for i in ("n1", "n2")}
SERVICES = {
    "s1": Service(id="s1", registry_auth=AUTH),
    "s2": Service(id="s2"),
}


def attached(
    task_id: str, service_id: str, *networks: str, state: TaskState = TaskState.ASSIGNED
) -> Task:
    t = task(task_id, NODE_A, state=state)
    spec = TaskSpec(networks=tuple(NetworkAttachmentConfig(n) for n in networks))
    return replace(t, service_id=service_id, spec=spec)


def test_networks_and_credentials_of_tasks_that_may_run() -> None:
    tasks = [
        attached("a", "s1", "n1", "gone"),
        attached("b", "s2", "n2"),
        attached("c", "s3", "n2", state=TaskState.FAILED),  # finished: needs nothing
    ]
    found = dependencies_of(tasks, NETS.get, SERVICES.get)
    assert [n.id for n in found.networks] == ["n1", "n2"]  # "gone" is left out
    assert found.registry_auths == (ServiceAuth("s1", AUTH),)
    assert found


def test_a_task_being_stopped_needs_nothing() -> None:
    stopping = replace(attached("a", "s1", "n1"), desired_state=TaskState.SHUTDOWN)
    assert not dependencies_of([stopping], NETS.get, SERVICES.get)
    only_auth = dependencies_of([attached("a", "s1", "n1")], NETS.get, SERVICES.get, auth_only=True)
    assert only_auth.networks == () and only_auth.registry_auths
