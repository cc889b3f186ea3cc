"""The wire schema: one module per owner, one registry the codec looks types up in."""

from __future__ import annotations

import importlib

import pytest

from api.schema import registry
from api.schema.declare import STR, Field, ListOf, MapOf, MessageType, OwnerSchema
from api.schema.registry import OWNERS, by_name, lookup, registered

OWNER_MODULES = ("transport", "dispatcher", "raft", "membership", "control", "ca", "logs")


def test_every_owner_module_is_registered() -> None:
    schemas = {importlib.import_module(f"api.schema.{name}").SCHEMA for name in OWNER_MODULES}
    assert schemas == set(OWNERS)
    for schema in OWNERS:
        assert schema.types, f"{schema.owner} declares no type"
        for message_type in schema.types:
            assert lookup(message_type.name) is message_type


def test_every_declared_type_is_in_its_owners_schema() -> None:
    # a MessageType written in an owner's module but not declared would be unknown to the codec
    for name in OWNER_MODULES:
        module = importlib.import_module(f"api.schema.{name}")
        constants = {v for v in vars(module).values() if isinstance(v, MessageType)}
        assert constants == set(module.SCHEMA.types), name


def test_every_reply_names_a_registered_type() -> None:
    for message_type in registered().values():
        if message_type.reply is not None:
            assert lookup(message_type.reply) is not None, message_type.name


def test_the_codecs_registry_is_this_one() -> None:
    from transport import codec

    assert codec.lookup is registry.lookup


def test_an_owner_declaring_a_name_twice_is_refused() -> None:
    schema = OwnerSchema("test")
    schema.declare(MessageType("test.schema.twice"))
    with pytest.raises(ValueError, match=r"declares message type 'test\.schema\.twice' twice"):
        schema.declare(MessageType("test.schema.twice", (Field("x", STR),)))


def test_two_owners_declaring_one_name_are_refused() -> None:
    first, second = OwnerSchema("first"), OwnerSchema("second")
    first.declare(MessageType("test.schema.shared"))
    second.declare(MessageType("test.schema.shared"))
    with pytest.raises(ValueError, match="declared by both first and second"):
        by_name((first, second))


def test_by_name_keeps_every_owners_types() -> None:
    first, second = OwnerSchema("first"), OwnerSchema("second")
    a = first.declare(MessageType("test.schema.a"))
    b = second.declare(MessageType("test.schema.b", reply="test.schema.a"))
    assert by_name((first, second)) == {"test.schema.a": a, "test.schema.b": b}


def test_declarations_are_frozen_values() -> None:
    # plain slotted classes (cheaper to import than dataclasses), with a value's semantics
    field = Field("a", ListOf(STR), required=False)
    assert field == Field("a", ListOf(STR), False)
    assert hash(field) == hash(Field("a", ListOf(STR), False))
    assert field != Field("a", MapOf(STR), False)  # same shape, another type: not equal
    assert ListOf(STR) != MapOf(STR)
    assert repr(field) == "Field(name='a', type=ListOf(item=Scalar(name='str')), required=False)"
    with pytest.raises(AttributeError, match="cannot assign to field 'name'"):
        field.name = "b"
    with pytest.raises(AttributeError):
        field.other = 1
    assert MessageType("x", (field,)) == MessageType("x", (field,), None, "")
