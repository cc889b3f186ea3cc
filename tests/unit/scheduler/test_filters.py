"""Each filter's verdict and reason; the pipeline's counts and explanation."""

from __future__ import annotations

from actors.node.tree.host_info import describe_executor
from actors.scheduler import (
    ConstraintFilter,
    ExecutorFilter,
    HostPortFilter,
    MaxReplicasFilter,
    Pipeline,
    PlatformFilter,
    ReadyFilter,
    ResourceFilter,
    Usage,
    explain,
)
from actors.scheduler.filters import MAX_REASONS
from api.enums import NodeAvailability, NodeState
from api.executor_capabilities import Capability
from api.objects import ExecutorDescription, Node, Platform
from tests.unit.scheduler.helpers import CPU, GB, demand, info, node


def test_ready_filter() -> None:
    f = ReadyFilter()
    d = demand()
    assert f.check(d, info(node("a"))) is None
    assert f.check(d, info(node("a", state=NodeState.DOWN))) == "node not ready"
    assert f.check(d, info(node("a", state=NodeState.UNKNOWN))) == "node not ready"
    assert f.check(d, info(node("a", availability=NodeAvailability.DRAIN))) == "node drained"
    assert f.check(d, info(node("a", availability=NodeAvailability.PAUSE))) == "node paused"


def test_resource_filter_counts_reservations_of_tasks_on_the_node() -> None:
    f = ResourceFilter()
    n = info(node("a", cpus=2, memory=4 * GB))
    assert not f.enabled(demand())
    d = demand(cpus=1, memory=2 * GB)
    assert f.enabled(d)
    assert f.check(d, n) is None
    n.add_task("t1", Usage("other", CPU, 3 * GB))
    assert f.check(d, n) == "insufficient memory"
    n.add_task("t2", Usage("other", CPU * 3 // 2, 0))
    assert f.check(d, n) == "insufficient CPU and memory"
    n.remove_task("t1")
    assert f.check(d, n) == "insufficient CPU"
    n.remove_task("t2")
    assert f.check(d, n) is None


def test_resource_filter_node_without_description_has_nothing_free() -> None:
    bare = info(Node(id="b"))
    assert ResourceFilter().check(demand(memory=1), bare) == "insufficient memory"


def test_constraint_filter_names_the_first_unsatisfied_constraint() -> None:
    f = ConstraintFilter()
    d = demand(constraints=("node.role==worker", "node.labels.zone==a"))
    assert f.check(d, info(node("a", labels={"zone": "a"}))) is None
    assert f.check(d, info(node("b"))) == "constraint node.labels.zone==a not satisfied"
    assert not f.enabled(demand())


def test_platform_filter() -> None:
    f = PlatformFilter()
    assert not f.enabled(demand())
    d = demand(platforms=(Platform(os="linux", architecture="amd64"),))
    assert f.check(d, info(node("a", arch="x86_64"))) is None
    assert f.check(d, info(node("a", arch="aarch64"))) == "unsupported platform"
    any_arch = demand(platforms=(Platform(os="windows"), Platform(architecture="arm64")))
    assert f.check(any_arch, info(node("a", arch="aarch64"))) is None
    assert f.check(any_arch, info(node("a"))) == "unsupported platform"


def test_executor_filter_names_the_executor_and_what_it_lacks() -> None:
    f = ExecutorFilter()
    assert not f.enabled(demand())  # a plain command: any executor runs it
    d = demand(executor_needs=(Capability.LIMIT_PIDS, Capability.MOUNT))
    process = info(node("p", executor=describe_executor("process")))
    assert f.check(d, process) == "process executor cannot honour --limit-pids, --mount"
    assert f.check(d, info(node("d", executor=describe_executor("docker")))) is None
    assert f.check(d, info(node("s", executor=describe_executor("sim")))) is None
    partial = ExecutorDescription(kind="x", capabilities=("mount", "from-a-newer-node"))
    assert f.check(d, info(node("x", executor=partial))) == "x executor cannot honour --limit-pids"
    image = demand(executor_needs=(Capability.IMAGE_COMMAND,))
    assert f.check(image, process) == ("process executor cannot honour an image's default command")


def test_executor_filter_takes_a_node_that_does_not_say_as_docker() -> None:
    # a node older than the report (or one whose session has not started) says nothing:
    # it gets what every node got before nodes reported their executor
    d = demand(executor_needs=(Capability.LIMIT_PIDS,))
    assert ExecutorFilter().check(d, info(node("old"))) is None
    assert ExecutorFilter().check(d, info(Node(id="bare"))) is None


def test_executor_rejections_are_explained_per_kind() -> None:
    d = demand(executor_needs=(Capability.LIMIT_PIDS,))
    check = Pipeline().group(d)
    nodes = [
        info(node("1", executor=describe_executor("process"))),
        info(node("2", executor=describe_executor("process"))),
        info(node("3", executor=describe_executor("docker"), state=NodeState.DOWN)),
    ]
    assert not any(check.passes(n) for n in nodes)
    assert check.explain() == (
        "no suitable node (node not ready on 1 node; process executor cannot honour "
        "--limit-pids on 2 nodes)"
    )
    assert check.blocking_filter == "executor"


def test_host_port_filter() -> None:
    f = HostPortFilter()
    d = demand(host_ports=frozenset({("tcp", 8080)}))
    n = info(node("a"))
    assert f.check(d, n) is None
    n.add_task("t1", Usage("web", host_ports=frozenset({("udp", 8080)})))
    assert f.check(d, n) is None  # another protocol
    n.add_task("t2", Usage("web", host_ports=frozenset({("tcp", 8080)})))
    assert f.check(d, n) == "host port 8080/tcp in use"
    n.remove_task("t2")
    assert f.check(d, n) is None


def test_max_replicas_filter() -> None:
    f = MaxReplicasFilter()
    d = demand("web", max_replicas=2)
    n = info(node("a"))
    n.add_task("t1", Usage("web"))
    n.add_task("x", Usage("other"))
    assert f.check(d, n) is None
    n.add_task("t2", Usage("web"))
    assert f.check(d, n) == "max replicas per node (2) reached"
    assert not f.enabled(demand("web"))


def test_group_check_counts_each_node_once_in_filter_order() -> None:
    # Static filters (ready, constraints, platform) run before the dynamic ones
    # (resources, ports, max replicas); a node counts for the first that rejects it.
    d = demand(memory=6 * GB, constraints=("node.labels.zone==a",))
    check = Pipeline().group(d)
    nodes = [
        info(node("1", memory=4 * GB, labels={"zone": "a"})),
        info(node("2", memory=4 * GB)),  # both too small and unlabelled: counted once
        info(node("3", labels={"zone": "b"})),
        info(node("4", state=NodeState.DOWN)),
    ]
    for n in nodes:
        check.passes(n)
        check.passes(n)  # a second look at the same node is not counted again
    assert check.rejections == {
        "node not ready": 1,
        "insufficient memory": 1,
        "constraint node.labels.zone==a not satisfied": 2,
    }
    assert check.explain() == (
        "no suitable node (node not ready on 1 node; insufficient memory on 1 node; "
        "constraint node.labels.zone==a not satisfied on 2 nodes)"
    )


def test_explain_without_nodes() -> None:
    assert explain({}) == "no suitable node (no nodes available)"


def test_pipeline_check_single_node() -> None:
    p = Pipeline()
    assert p.check(demand(), info(node("a"))) is None
    assert p.check(demand(cpus=8), info(node("a", cpus=4))) == "insufficient CPU"


def test_a_pending_message_names_a_bounded_number_of_reasons() -> None:
    # each node names its own executor kind: a thousand nodes reporting a thousand kinds
    # must not make a thousand-reason message, copied into every pending task's status
    d = demand(executor_needs=(Capability.LIMIT_PIDS,))
    check = Pipeline().group(d)
    for i in range(1000):
        kinds = ExecutorDescription(kind=f"kind{i:04}", capabilities=())
        assert not check.passes(info(node(str(i), executor=kinds)))
    message = check.explain()
    assert len(message) < 1000, message
    assert message.startswith(
        "no suitable node (kind0000 executor cannot honour --limit-pids on 1 node; "
    )
    assert message.endswith(f"; {1000 - MAX_REASONS} other reasons on {1000 - MAX_REASONS} nodes)")
    few = {f"reason {i}": 1 for i in range(MAX_REASONS)}
    assert "other reasons" not in explain(few)  # up to the bound, every reason is named
