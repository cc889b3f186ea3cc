"""The routing mesh's decisions on a node (actors/worker/mesh_table.py)."""

from __future__ import annotations

from actors.dispatcher.ingress import IngressBackend, IngressPort
from actors.worker.mesh_table import BackendChooser, listener_changes
from api.enums import PortProtocol

A, B, C = (IngressBackend("127.0.0.2", 1), IngressBackend("127.0.0.3", 2), IngressBackend("::1", 3))


def test_listen_on_the_tables_tcp_ports_only() -> None:
    table = [
        IngressPort(80, PortProtocol.TCP, "a", (A,)),
        IngressPort(81, PortProtocol.TCP, "b", ()),
        IngressPort(53, PortProtocol.UDP, "c", (B,)),
    ]
    changes = listener_changes([81, 82], table)
    assert changes.open == (80,)
    assert changes.close == (82,)
    assert changes.backends == {80: (A,), 81: ()}


def test_equal_backends_take_turns() -> None:
    chooser = BackendChooser()
    assert [chooser.choose(80, (A, B, C)) for _ in range(6)] == [A, B, C, A, B, C]


def test_the_backend_with_fewest_connections_is_chosen() -> None:
    chooser = BackendChooser()
    chooser.opened(A)
    chooser.opened(A)
    chooser.opened(B)
    assert chooser.choose(80, (A, B, C)) == C
    chooser.opened(C)
    chooser.opened(C)
    assert chooser.choose(80, (A, B, C)) == B
    chooser.closed(A)
    chooser.closed(A)
    assert chooser.active(A) == 0
    assert chooser.choose(80, (A, B, C)) == A


def test_a_refused_backend_is_passed_over_for_the_same_connection() -> None:
    chooser = BackendChooser()
    assert chooser.choose(80, (A, B), tried=(A,)) == B
    assert chooser.choose(80, (A, B), tried=(A, B)) is None
    assert chooser.choose(80, ()) is None
