"""The routing mesh's decisions on a node (actors/worker/mesh_table.py)."""

from __future__ import annotations

from actors.dispatcher.ingress import IngressBackend, IngressPort
from actors.worker.mesh_table import BackendChooser, ConnectionBudget, listener_changes
from api.enums import PortProtocol

A, B, C = (IngressBackend("127.0.0.2", 1), IngressBackend("127.0.0.3", 2), IngressBackend("::1", 3))


TCP, UDP = PortProtocol.TCP, PortProtocol.UDP
PORT = (TCP, 80)


def test_listen_on_the_tables_tcp_and_udp_ports_only() -> None:
    table = [
        IngressPort(80, TCP, "a", (A,)),
        IngressPort(81, TCP, "b", ()),
        IngressPort(80, UDP, "c", (B,)),
        IngressPort(9, PortProtocol.SCTP, "d", (B,)),  # the managers refuse it
    ]
    changes = listener_changes([(TCP, 81), (TCP, 82)], table)
    assert changes.open == ((TCP, 80), (UDP, 80))
    assert changes.close == ((TCP, 82),)
    assert changes.backends == {(TCP, 80): (A,), (TCP, 81): (), (UDP, 80): (B,)}


def test_equal_backends_take_turns() -> None:
    chooser = BackendChooser()
    assert [chooser.choose(PORT, (A, B, C)) for _ in range(6)] == [A, B, C, A, B, C]


def test_a_port_of_many_backends_reaches_each_in_turn_while_connections_stay_open() -> None:
    many = tuple(IngressBackend("10.0.0.1", 1 + i) for i in range(1000))
    chooser = BackendChooser()
    chosen = []
    for _ in range(1000):
        backend = chooser.choose(PORT, many)
        assert backend is not None
        chooser.opened(backend)
        chosen.append(backend)
    assert chosen == list(many)  # each once: the first idle from the turn's start
    chooser.closed(many[500])
    assert chooser.choose(PORT, many) == many[500]  # the only one with none open


def test_the_backend_with_fewest_connections_is_chosen() -> None:
    chooser = BackendChooser()
    chooser.opened(A)
    chooser.opened(A)
    chooser.opened(B)
    assert chooser.choose(PORT, (A, B, C)) == C
    chooser.opened(C)
    chooser.opened(C)
    assert chooser.choose(PORT, (A, B, C)) == B
    chooser.closed(A)
    chooser.closed(A)
    assert chooser.active(A) == 0
    assert chooser.choose(PORT, (A, B, C)) == A


def test_a_refused_backend_is_passed_over_for_the_same_connection() -> None:
    chooser = BackendChooser()
    assert chooser.choose(PORT, (A, B), tried=(A,)) == B
    assert chooser.choose(PORT, (A, B), tried=(A, B)) is None
    assert chooser.choose(PORT, ()) is None


def test_connections_are_bounded_per_port_and_in_all() -> None:
    budget = ConnectionBudget(per_port=2, total=3)
    assert budget.take(PORT) and budget.take(PORT)
    assert not budget.take(PORT)  # the port's bound
    other = (UDP, 53)
    assert budget.take(other)
    assert not budget.take((TCP, 9))  # the node's bound
    budget.give(PORT)
    assert budget.held(PORT) == 1 and budget.held() == 2
    assert budget.take((TCP, 9))
    budget.give((TCP, 1234))  # nothing held there: no effect
    assert budget.held() == 3
