"""The routing mesh's table sent as versioned changes (actors/dispatcher/ingress_changes.py),
their place in a session frame (wire.py), and a node's table built from them
(actors/worker/mesh_table.py ``NodeTable``)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from actors.dispatcher.ingress import (
    MAX_BACKENDS,
    MAX_INGRESS_PORTS,
    IngressBackend,
    IngressPort,
)
from actors.dispatcher.ingress_changes import (
    ENDED_SLACK,
    HISTORY,
    IngressFeed,
    PortChange,
    TableChange,
    apply_change,
    diff_tables,
    full_change,
    parse_change,
    reads_changes,
)
from actors.dispatcher.wire import (
    SessionFrame,
    encode_frame,
    encode_session_request,
    parse_frame,
    split_frame,
)
from actors.worker.mesh_table import NodeTable, TableOutOfStep
from api.enums import PortProtocol
from api.objects import NodeDescription, Secret
from api.specs import SecretSpec

TCP, UDP = PortProtocol.TCP, PortProtocol.UDP


def backends(*ports: int, addr: str = "10.0.0.1") -> tuple[IngressBackend, ...]:
    return tuple(IngressBackend(addr, p) for p in ports)


def keyed(*entries: IngressPort) -> dict[tuple[PortProtocol, int], IngressPort]:
    return {(e.protocol, e.port): e for e in entries}


def random_table(rng: random.Random) -> tuple[IngressPort, ...]:
    entries = {}
    for _ in range(rng.randrange(6)):
        port, protocol = rng.choice((80, 81, 82, 53)), rng.choice((TCP, UDP))
        found = {
            IngressBackend(f"10.0.0.{rng.randrange(4)}", rng.randrange(1, 40))
            for _ in range(rng.randrange(30))
        }
        entries[(protocol, port)] = IngressPort(
            port, protocol, rng.choice("ab"), tuple(sorted(found))
        )
    return tuple(entries[k] for k in sorted(entries))


def as_sets(table: dict[tuple[PortProtocol, int], IngressPort]) -> dict[object, object]:
    return {k: (e.service, frozenset(e.backends)) for k, e in table.items()}


def test_a_diff_applied_gives_the_new_table_and_travels_in_a_frame() -> None:
    rng = random.Random(14)
    for _ in range(300):
        old, new = keyed(*random_table(rng)), keyed(*random_table(rng))
        change = diff_tables(old, new, 5, 4)
        wire = parse_frame(encode_frame(SessionFrame("s", 5.0, (), False, (), (), mesh=change)))
        assert wire.mesh == change
        assert as_sets(apply_change(old, change)) == as_sets(new)
        assert as_sets(apply_change({}, full_change(new, 6))) == as_sets(new)
    # what a port that changed carries: only the backends added and removed
    old = keyed(IngressPort(80, TCP, "web", backends(1, 2, 3)), IngressPort(53, UDP, "dns", ()))
    new = keyed(IngressPort(80, TCP, "web", backends(2, 3, 4)), IngressPort(81, TCP, "api", ()))
    change = diff_tables(old, new, 2, 1)
    assert change.ports == (
        PortChange(80, TCP, "web", backends(4), backends(1)),
        PortChange(81, TCP, "api"),
    )
    assert change.closed == ((UDP, 53),)


def test_each_session_is_sent_a_change_once_and_all_at_one_base_the_same_object() -> None:
    feed = IngressFeed()
    for sid in ("a", "b", "old"):
        feed.opened(sid, reads_changes=sid != "old")
    first_a, first_b = feed.to_send("a"), feed.to_send("b")
    assert first_a[1] is not None and first_a[1].full and first_a[1].ports == ()
    assert first_a == first_b and feed.to_send("a") == (None, None)
    assert feed.to_send("old") == ((), None)  # the earlier version: the whole table
    table = (IngressPort(80, TCP, "web", backends(*range(1, 301))),)
    assert feed.set_table(table) and not feed.set_table(table)
    assert feed.stale(["a", "b", "old", "new"]) == ["a", "b", "new", "old"]
    _, to_a = feed.to_send("a")
    _, to_b = feed.to_send("b")
    assert to_a is to_b and to_a is not None  # diffed and encoded once for both
    assert (to_a.base, to_a.version) == (1, 2) and len(to_a.ports[0].added) == 300
    assert feed.to_send("old") == (table, None)  # encode_table cuts it to 256 a port
    _, to_new = feed.to_send("new")  # a session that did not say: the whole table
    assert to_new is None
    bigger = (IngressPort(80, TCP, "web", backends(*range(1, 302))),)
    feed.set_table(bigger)
    _, to_a = feed.to_send("a")
    assert to_a is not None and to_a.ports == (PortChange(80, TCP, "web", backends(301)),)
    assert feed.stale(["a"]) == [] and feed.held() == 1  # the others ended: forgotten


def test_ended_sessions_are_forgotten_once_they_outnumber_the_live_ones() -> None:
    """Sessions that ended are remembered until the next ``stale``; the dispatcher calls
    it without a change of the table once ``overgrown`` says they piled up."""
    feed = IngressFeed()
    ended = [f"s{i}" for i in range(2 * 10 + ENDED_SLACK)]
    for sid in ended:
        feed.to_send(sid)
    assert not feed.overgrown(10)  # 2 x 10 live, and the slack
    feed.to_send("one more")
    assert feed.overgrown(10) and not feed.overgrown(11)
    assert feed.stale(["one more"]) == [] and not feed.overgrown(0)


def test_a_session_behind_the_history_kept_is_sent_a_full_table() -> None:
    feed = IngressFeed()
    feed.opened("late", reads_changes=True)
    feed.opened("live", reads_changes=True)
    feed.to_send("late")
    for n in range(HISTORY + 1):
        feed.set_table((IngressPort(80, TCP, "web", backends(*range(1, n + 2))),))
        feed.to_send("live")
    _, change = feed.to_send("late")
    assert change is not None and change.full and change.version == feed.version
    assert len(change.ports[0].added) == HISTORY + 1


def test_a_node_applies_changes_in_step_and_refuses_one_out_of_step() -> None:
    node = NodeTable()
    with pytest.raises(TableOutOfStep):
        node.take(TableChange(3, 2))  # no full table yet
    web = IngressPort(80, TCP, "web", backends(1, 2))
    assert node.take(full_change(keyed(web), 2)) == (web,)
    grown = replace(web, backends=backends(1, 2, 3))
    assert node.take(diff_tables(keyed(web), keyed(grown), 3, 2)) == (grown,)
    with pytest.raises(TableOutOfStep, match="from version 2, this node holds 3"):
        node.take(diff_tables(keyed(web), keyed(grown), 3, 2))  # the same again
    assert node.take(full_change({}, 9)) == ()  # a full table applies on anything


def test_a_change_past_the_bounds_is_refused() -> None:
    many = tuple(
        IngressBackend(f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}", 1) for i in range(MAX_BACKENDS)
    )
    table = apply_change({}, TableChange(2, 0, (PortChange(80, TCP, "web", many),)))
    one_more = TableChange(3, 2, (PortChange(80, TCP, "web", backends(2, addr="10.0.0.2")),))
    with pytest.raises(ValueError, match="over"):
        apply_change(table, one_more)
    ports = tuple(PortChange(p, TCP, "x") for p in range(1, MAX_INGRESS_PORTS + 1))
    full = apply_change({}, TableChange(2, 0, ports))
    with pytest.raises(ValueError, match="ports"):
        apply_change(full, TableChange(3, 2, (PortChange(MAX_INGRESS_PORTS + 1, TCP, "y"),)))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("x", "not a map"),
        ({"version": 0, "base": 0, "ports": []}, "mesh.version"),
        ({"version": 2, "base": 2, "ports": []}, "is not before"),
        ({"version": 2, "base": 0, "ports": "x"}, "mesh.ports"),
        ({"version": 2, "base": 0, "ports": [{"port": 80, "protocol": "tcp", "service": "a",
          "add": [["nope", 1]]}]}, "not an IP address"),
        ({"version": 2, "base": 0, "ports": [{"port": 80, "protocol": "tcp", "service": "a",
          "add": [["10.0.0.1", 70000]]}]}, "not a port"),
        ({"version": 2, "base": 0, "ports": [{"port": 80, "protocol": "tcp", "service": "a",
          "add": [], "remove": [["10.0.0.1", 1]]}]}, "removes nothing"),
        ({"version": 2, "base": 0, "ports": [], "closed": [["tcp", 80]]}, "closes nothing"),
        ({"version": 3, "base": 2, "ports": [], "closed": [["icmp", 80]]}, "unknown"),
        ({"version": 3, "base": 2, "ports": [{"port": 80, "protocol": "tcp", "service": "a",
          "add": [["10.0.0.1", 1]] * (MAX_BACKENDS + 1)}]}, "at most"),
        ({"version": 3, "base": 2, "ports": [{"port": 80, "protocol": "tcp", "service": "a",
          "add": []}] * 2}, "twice"),
    ],
)  # fmt: skip
def test_a_bad_change_is_refused_naming_what(raw: object, fragment: str) -> None:
    with pytest.raises(ValueError, match="mesh") as caught:
        parse_change(raw)
    assert fragment in str(caught.value)


def test_a_frame_split_for_its_secrets_carries_the_change_once() -> None:
    change = full_change(keyed(IngressPort(80, TCP, "web", backends(1))), 2)
    secrets = tuple(
        Secret(id=f"x{i}", spec=SecretSpec(name=f"x{i}", data=b"a" * 10)) for i in range(3)
    )
    frame = SessionFrame("s", 5.0, (), True, (), (), secrets=secrets, mesh=change)
    assert [p.mesh for p in split_frame(frame, budget=10)] == [change, None, None]


def test_a_session_request_says_the_node_reads_changes() -> None:
    body = encode_session_request("n1", NodeDescription(hostname="h"))
    assert reads_changes(body)
    assert not reads_changes({"node_id": "n1", "description": {}})  # the earlier version
    assert not reads_changes({"mesh": True}) and not reads_changes({"mesh": "1"})
