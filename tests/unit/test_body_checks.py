"""The generated body checks (transport/body_checks.py) agree with the walk
(transport/body_walk.py) on every declared message type, strict (the control API's
requests) or not: the same bodies accepted, the same refused."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import api.schema
from api.errors import BadField
from api.schema.declare import (
    ANY,
    FLOAT,
    INT,
    STR,
    Field,
    FieldType,
    ListOf,
    MapOf,
    MessageType,
    Nullable,
    Scalar,
    Struct,
)
from api.schema.registry import registered
from transport.body_checks import accepts, checker_source
from transport.body_walk import check_body

for module in pkgutil.iter_modules(api.schema.__path__):
    importlib.import_module(f"api.schema.{module.name}")
TYPES = sorted(registered().values(), key=lambda mt: mt.name)

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.binary(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
SCALARS = {
    "str": st.text(max_size=5),
    "int": st.integers(min_value=-(2**63), max_value=2**64 - 1),
    "float": st.floats(allow_nan=False) | st.integers(max_value=10),
    "bool": st.booleans(),
    "bytes": st.binary(max_size=5),
    "any": plain,
}


def value_of(t: FieldType) -> st.SearchStrategy[Any]:
    """Mostly values of type ``t``, at times anything plain, at any depth."""
    if isinstance(t, Scalar):
        valid = SCALARS[t.name]
    elif isinstance(t, Nullable):
        valid = st.none() | value_of(t.inner)
    elif isinstance(t, ListOf):
        valid = st.lists(value_of(t.item), max_size=3)
    elif isinstance(t, MapOf):
        keys = st.text(max_size=3) | st.binary(max_size=2)
        valid = st.dictionaries(keys, value_of(t.value), max_size=3)
    else:
        assert isinstance(t, Struct)
        valid = body_of(t.fields)
    return st.one_of(valid, valid, valid, plain)


def body_of(fields: tuple[Any, ...]) -> st.SearchStrategy[dict[str, Any]]:
    parts = {f.name: st.none() | st.just(value_of(f.type)) for f in fields}

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, chooser in parts.items():
            strategy = draw(chooser)
            if strategy is not None:  # else absent
                body[name] = draw(strategy)
        if draw(st.booleans()):
            body["extra"] = draw(plain)
        return body

    return build()


def walk_accepts(mt: MessageType, body: dict[str, Any]) -> bool:
    try:
        check_body(body, mt.fields, None, unpacked=True, strict=mt.strict)
    except BadField:
        return False
    return True


@pytest.mark.parametrize("mt", TYPES, ids=lambda mt: mt.name)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_generated_check_agrees_with_the_walk(mt: MessageType, data: Any) -> None:
    body = data.draw(body_of(mt.fields))
    assert accepts(mt, body) == walk_accepts(mt, body), checker_source(mt.fields, mt.strict)


def test_the_control_apis_requests_are_strict_and_every_other_type_is_not() -> None:
    """A user's request refuses a field it does not declare; the cluster's messages
    (dispatcher, raft, membership, ca, logs) and every reply take newer fields."""
    strict = {mt.name for mt in TYPES if mt.strict}
    assert strict == {mt.name for mt in TYPES if mt.name.startswith("control.") and mt.reply}
    assert "control.service.create" in strict and "control.service.reply" not in strict


def test_the_rules_of_the_walk_in_a_few_cases() -> None:
    mt = MessageType(
        "test.body_checks.sample",
        (
            Field("count", INT),
            Field("ratio", FLOAT, required=False),
            Field("names", ListOf(STR), required=False),
            Field("labels", MapOf(Nullable(STR)), required=False),
            Field("blob", ANY, required=False),
        ),
    )
    assert accepts(mt, {"count": 1})
    assert not accepts(mt, {})  # a required field missing
    assert not accepts(mt, {"count": True})  # a bool is not an int
    assert accepts(mt, {"count": 1, "ratio": 2})  # an int is a float
    assert accepts(mt, {"count": 1, "names": ("a", "b")})  # a tuple is a list
    assert not accepts(mt, {"count": 1, "names": ["a", 2]})
    assert accepts(mt, {"count": 1, "labels": {"a": None, "b": "x"}})
    assert not accepts(mt, {"count": 1, "labels": {b"a": "x"}})  # keys are str
    assert not accepts(mt, {"count": 1, "labels": {"a": 1}})
    assert accepts(mt, {"count": 1, "blob": {b"k": [object()]}, "other": 3})  # any: not walked


def test_a_strict_type_refuses_a_field_it_does_not_declare_naming_it() -> None:
    auth = Struct((Field("user", STR), Field("token", STR, required=False)))
    fields = (Field("name", STR), Field("auth", auth, required=False), Field("spec", ANY))
    tolerant = MessageType("test.body_checks.open", fields)
    strict = MessageType("test.body_checks.strict", fields, strict=True)
    good = {"name": "a", "auth": {"user": "u"}, "spec": {"anything": {"goes": 1}}}
    newer = {**good, "colour": "red"}
    nested = {**good, "auth": {"user": "u", "tokne": "t"}}
    for body in (good, newer, nested):
        assert accepts(tolerant, body) and walk_accepts(tolerant, body)
    assert accepts(strict, good) and walk_accepts(strict, good)
    for body, named in ((newer, "colour"), (nested, "auth.tokne")):
        assert not accepts(strict, body)
        with pytest.raises(BadField, match=f'unknown field "{named}"'):
            check_body(body, fields, None, unpacked=True, strict=True)
