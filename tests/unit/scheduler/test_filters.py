"""Each filter's verdict and reason; the pipeline's counts and explanation."""

from __future__ import annotations

from actors.scheduler import (
    ConstraintFilter,
    HostPortFilter,
    MaxReplicasFilter,
    Pipeline,
    PlatformFilter,
    ReadyFilter,
    ResourceFilter,
    Usage,
    explain,
)
from api.enums import NodeAvailability, NodeState
from api.objects import Node, Platform
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
