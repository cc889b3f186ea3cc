"""Constraint matching: keys, case rules, missing labels, node.ip with CIDR."""

from __future__ import annotations

import pytest

from actors.scheduler import match_constraint, parse_constraints, spread_value
from actors.scheduler.constraints import node_address
from api.enums import NodeRole
from api.validation import InvalidSpec, parse_constraint
from tests.unit.scheduler.helpers import node


def matches(expr: str, **node_args: object) -> bool:
    return match_constraint(parse_constraint(expr), node("n1", **node_args))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("node.id==n1", True),
        ("node.id!=n1", False),
        ("node.id==N1", True),  # values compare case-insensitively
        ("node.hostname==HOST-N1", True),
        ("node.hostname!=other", True),
        ("node.role==worker", True),
        ("node.role==manager", False),
        ("node.role!=manager", True),
        ("node.platform.os==Linux", True),
        ("node.platform.arch==x86_64", True),
        ("node.platform.arch!=x86_64", False),
    ],
)
def test_fixed_keys(expr: str, expected: bool) -> None:
    assert matches(expr) is expected


def test_role_is_the_current_role() -> None:
    assert matches("node.role==manager", role=NodeRole.MANAGER)


def test_node_labels_values_case_insensitive_keys_case_sensitive() -> None:
    assert matches("node.labels.zone==EU-1", labels={"zone": "eu-1"})
    assert not matches("node.labels.Zone==eu-1", labels={"zone": "eu-1"})


def test_missing_label_fails_equal_and_satisfies_not_equal() -> None:
    assert not matches("node.labels.zone==a")
    assert matches("node.labels.zone!=a")
    assert not matches("node.labels.zone!=a", labels={"zone": "A"})


def test_engine_labels() -> None:
    assert matches("engine.labels.storage==ssd", engine_labels={"storage": "ssd"})
    assert not matches("engine.labels.storage==ssd", labels={"storage": "ssd"})
    assert matches("engine.labels.storage!=ssd")


@pytest.mark.parametrize(
    ("expr", "addr", "expected"),
    [
        ("node.ip==10.0.0.5", "10.0.0.5", True),
        ("node.ip==10.0.0.5", "10.0.0.5:2377", True),
        ("node.ip!=10.0.0.5", "10.0.0.5", False),
        ("node.ip==10.0.0.0/24", "10.0.0.77", True),
        ("node.ip==10.0.0.0/24", "10.0.1.77", False),
        ("node.ip!=10.0.0.0/24", "10.0.1.77", True),
        ("node.ip!=10.0.0.0/24", "10.0.0.1", False),
        ("node.ip==10.0.0.7/24", "10.0.0.1", True),  # host bits ignored, as a network
        ("node.ip==fd00::/8", "[fd00::1]:4242", True),
        ("node.ip==::1", "::1", True),
        ("node.ip==10.0.0.1", "", False),  # unknown address satisfies neither operator
        ("node.ip!=10.0.0.1", "", False),
        ("node.ip!=10.0.0.1", "not-an-ip", False),
    ],
)
def test_node_ip(expr: str, addr: str, expected: bool) -> None:
    assert matches(expr, addr=addr) is expected


def test_node_address_parsing() -> None:
    assert str(node_address(node("a", addr="192.168.1.2:4000"))) == "192.168.1.2"
    assert str(node_address(node("a", addr="[::1]:4000"))) == "::1"
    assert node_address(node("a", addr="")) is None


def test_parse_constraints_caches_and_validates() -> None:
    first = parse_constraints(["node.role==manager", "node.labels.a!=b"])
    assert first is parse_constraints(("node.role==manager", "node.labels.a!=b"))
    assert [str(c) for c in first] == ["node.role==manager", "node.labels.a!=b"]
    with pytest.raises(InvalidSpec):
        parse_constraints(["node.zone==a"])


def test_node_without_description() -> None:
    bare = node("n1").__class__(id="n1")
    assert not match_constraint(parse_constraint("node.platform.os==linux"), bare)
    assert match_constraint(parse_constraint("engine.labels.x!=y"), bare)
    assert spread_value("node.labels.zone", bare) == ""


def test_spread_value() -> None:
    n = node("n1", labels={"zone": "a"}, engine_labels={"disk": "ssd"})
    assert spread_value("node.labels.zone", n) == "a"
    assert spread_value("engine.labels.disk", n) == "ssd"
    assert spread_value("node.labels.rack", n) == ""
