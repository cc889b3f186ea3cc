"""The routing mesh's table as the dispatcher builds it (actors/dispatcher/ingress.py), and
its place in a session frame (wire.py) for a node of the earlier version, whole."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.dispatcher.ingress import (
    LEGACY_MAX_BACKENDS,
    MAX_BACKENDS,
    MAX_TABLE_BACKENDS,
    PER_SESSION_INTERVAL,
    IngressBackend,
    IngressPort,
    IngressTracker,
    encode_table,
    ingress_table,
    parse_table,
)
from actors.dispatcher.wire import SessionFrame, encode_frame, parse_frame, split_frame
from api.enums import NodeState, PortProtocol, PublishMode
from api.objects import Node, NodeStatus, Secret, Service, Task, TaskStatus
from api.specs import EndpointSpec, PortConfig, SecretSpec, ServiceSpec, TaskSpec
from api.task_state import TaskState

TCP = PortProtocol.TCP
HOST = PublishMode.HOST
RUNNING = TaskState.RUNNING


def service(sid: str, name: str, *ports: PortConfig, removing: bool = False) -> Service:
    spec = ServiceSpec(name=name, endpoint=EndpointSpec(ports=ports))
    spec = replace(spec, task=TaskSpec(ports=ports))
    return Service(id=sid, spec=spec, pending_delete=removing)


def task(
    tid: str,
    s: Service,
    node: str,
    *got: tuple[int, int],
    state: TaskState = RUNNING,
    desired: TaskState = RUNNING,
) -> Task:
    status = TaskStatus(
        state=state,
        port_status=tuple(
            PortConfig(target_port=t, published_port=h, publish_mode=HOST) for t, h in got
        ),
    )
    return Task(
        id=tid,
        spec=s.spec.task,
        service_id=s.id,
        node_id=node,
        desired_state=desired,
        status=status,
    )


NODES = [
    Node(id="n1", status=NodeStatus(addr="127.0.0.2")),
    Node(id="n2", status=NodeStatus(addr="127.0.0.3")),
    Node(id="n3"),  # no address known yet
    Node(id="n4", status=NodeStatus(state=NodeState.DOWN, addr="127.0.0.4")),
]


def test_each_ingress_port_forwards_to_the_running_tasks_host_ports() -> None:
    web = service(
        "s1",
        "web",
        PortConfig(target_port=80, published_port=8080),
        PortConfig(target_port=80, published_port=9000, publish_mode=HOST),
    )
    tasks = {
        "s1": [
            task("t1", web, "n1", (80, 32768), (80, 9000)),  # 9000: its host-mode port
            task("t2", web, "n2", (80, 32770)),
            task("t3", web, "n2", (80, 32771), state=TaskState.STARTING),
            task("t4", web, "n1", (80, 32772), desired=TaskState.SHUTDOWN),
            task("t5", web, "n3", (80, 32773)),  # its node's address is unknown
            task("t6", web, "n4", (80, 32774)),  # its node is down
        ]
    }
    table = ingress_table([web], lambda i: tasks.get(i, []), NODES)
    assert table == (
        IngressPort(
            8080,
            TCP,
            "web",
            (IngressBackend("127.0.0.2", 32768), IngressBackend("127.0.0.3", 32770)),
        ),
    )


def test_removed_and_host_only_services_have_no_entry_and_a_port_has_one_owner() -> None:
    gone = service("s0", "gone", PortConfig(target_port=80, published_port=8080), removing=True)
    host = service("s2", "host", PortConfig(target_port=80, published_port=81, publish_mode=HOST))
    first = service("s3", "first", PortConfig(target_port=80, published_port=9090))
    second = service("s4", "second", PortConfig(target_port=80, published_port=9090))
    table = ingress_table([second, gone, host, first], lambda i: [], NODES)
    assert [(e.port, e.service) for e in table] == [(9090, "first")]


def test_backends_are_bounded_per_port_and_in_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("actors.dispatcher.ingress.MAX_BACKENDS", 5)
    monkeypatch.setattr("actors.dispatcher.ingress.MAX_TABLE_BACKENDS", 8)
    web = service("s1", "web", PortConfig(target_port=80, published_port=8080))
    api = service("s2", "api", PortConfig(target_port=80, published_port=8081))
    many = {
        s.id: [task(f"{s.id}t{i}", s, "n1", (80, 20000 + i)) for i in range(7)] for s in (web, api)
    }
    first, second = ingress_table([web, api], lambda i: many[i], NODES)
    assert [len(first.backends), len(second.backends)] == [5, 3]
    assert first.backends == tuple(IngressBackend("127.0.0.2", 20000 + i) for i in range(5))


def test_the_bounds_reach_past_any_service_of_the_clusters_aimed_at() -> None:
    # issue 14: 100,000 tasks in a cluster; a full table still fits a frame (ingress.py)
    assert MAX_BACKENDS >= 100_000 and MAX_TABLE_BACKENDS >= MAX_BACKENDS
    assert MAX_TABLE_BACKENDS * 44 < 12 * 1024 * 1024


def test_a_node_of_the_earlier_version_is_sent_at_most_256_backends_a_port() -> None:
    many = tuple(IngressBackend("10.0.0.1", 1000 + i) for i in range(LEGACY_MAX_BACKENDS + 9))
    (encoded,) = encode_table((IngressPort(80, TCP, "web", many),))
    assert len(encoded["backends"]) == LEGACY_MAX_BACKENDS


def test_the_table_travels_in_a_session_frame() -> None:
    table = (IngressPort(8080, TCP, "web", (IngressBackend("127.0.0.2", 32768),)),)
    frame = SessionFrame("s", 5.0, (), True, (), (), ingress=table)
    assert parse_frame(encode_frame(frame)).ingress == table
    assert parse_frame(encode_frame(replace(frame, ingress=()))).ingress == ()
    assert parse_frame(encode_frame(replace(frame, ingress=None))).ingress is None
    # a frame split for its secrets carries the table once
    secrets = tuple(
        Secret(id=f"x{i}", spec=SecretSpec(name=f"x{i}", data=b"a" * 10)) for i in range(3)
    )
    parts = split_frame(replace(frame, secrets=secrets), budget=10)
    assert [p.ingress for p in parts] == [table, None, None]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("x", "a list of at most"),
        ([{"port": 0, "protocol": "tcp", "service": "a", "backends": []}], "not a port"),
        ([{"port": 80, "protocol": "icmp", "service": "a", "backends": []}], "unknown 'icmp'"),
        ([{"port": 80, "protocol": "tcp", "service": "a", "backends": [["nope", 1]]}],
         "not an IP address"),
        ([{"port": 80, "protocol": "tcp", "service": "a", "backends": [["127.0.0.1"]]}],
         "[address, port]"),
        ([{"port": 80, "protocol": "tcp", "service": "a", "backends": []}] * 2, "twice"),
        ([{"port": 80, "protocol": "tcp", "service": "a",
           "backends": [["127.0.0.1", 1]] * (MAX_BACKENDS + 1)}], "at most"),
        ([{"port": p, "protocol": "tcp", "service": "a",
           "backends": [["127.0.0.1", 1]] * (MAX_TABLE_BACKENDS // 3 + 1)} for p in (1, 2, 3)],
         "in all"),
    ],
)  # fmt: skip
def test_a_bad_table_is_refused_naming_what(raw: object, fragment: str) -> None:
    with pytest.raises(ValueError, match="ingress") as caught:
        parse_table(raw)
    assert fragment in str(caught.value)


def test_parse_reads_what_encode_writes() -> None:
    table = (
        IngressPort(80, TCP, "a", ()),
        IngressPort(8080, TCP, "web", (IngressBackend("::1", 1), IngressBackend("10.0.0.1", 2))),
    )
    assert parse_table(encode_table(table)) == table


def test_the_tracker_computes_again_on_relevant_changes_at_most_once_an_interval() -> None:
    tracker = IngressTracker(interval=1.0)
    assert tracker.due(0.0)  # the first tick
    web = service("s1", "web", PortConfig(target_port=80, published_port=8080))
    plain = service("s2", "plain")
    tracker.computed(0.0, [web, plain])
    tracker.observe(task("t1", plain, "n1"))  # a task of a service without ingress ports
    tracker.observe(plain)
    assert not tracker.due(5.0)
    tracker.observe(task("t2", web, "n1"))
    assert not tracker.due(0.5) and tracker.due(1.0)
    tracker.computed(1.0, [web])
    tracker.observe(NODES[0])  # a node's address may have changed
    assert tracker.due(2.0)
    tracker.computed(2.0, [])
    tracker.observe(NODES[0])
    assert not tracker.due(3.0)  # no ingress service: nodes do not matter
    tracker.observe(web)  # a service that publishes one
    assert tracker.due(3.0)
    # many sessions: at most once per PER_SESSION_INTERVAL a session
    tracker.computed(3.0, [web])
    tracker.observe(web)
    assert tracker.due(4.0, sessions=10) and not tracker.due(4.0, sessions=2000)
    assert tracker.due(3.0 + 2000 * PER_SESSION_INTERVAL, sessions=2000)
