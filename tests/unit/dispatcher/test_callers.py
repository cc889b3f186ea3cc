"""Who a dispatcher call speaks for (actors/dispatcher/callers.py)."""

from __future__ import annotations

from actors.dispatcher.callers import check_caller, check_session_node
from api.objects import Node
from tests.unit.dispatcher.helpers import NODE_A, NODE_B


def test_a_call_for_the_certified_node_goes_on() -> None:
    assert check_caller(NODE_A, NODE_A) is None


def test_a_call_naming_another_node_is_refused_naming_both() -> None:
    reason = check_caller(NODE_B, NODE_A)
    assert reason is not None
    assert NODE_A in reason and NODE_B in reason


def test_a_key_without_a_certificate_speaks_for_no_node() -> None:
    reason = check_caller(NODE_A, None)
    assert reason is not None and "certificate" in reason


def test_a_long_name_is_cut_in_the_reason() -> None:
    reason = check_caller("x" * 10_000, NODE_A)
    assert reason is not None and len(reason) < 200


def test_a_session_needs_the_node_in_the_store() -> None:
    assert check_session_node(NODE_A, Node(NODE_A)) is None
    reason = check_session_node(NODE_A, None)
    assert reason is not None and "not in the cluster" in reason
