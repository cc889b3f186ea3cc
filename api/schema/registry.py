"""The one registry of message types: the codec looks every type up here.

Each owner declares its types in its own module of `api.schema` (transport, dispatcher,
raft, membership, control, ca, logs); importing this module registers all of them, so whoever
encodes or decodes a frame knows every type. A name declared by two owners is an error at
import. Tests and benches may `register` types of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from api.schema import ca, control, dispatcher, logs, membership, raft, transport
from api.schema.declare import MessageType, OwnerSchema

__all__ = ["OWNERS", "by_name", "lookup", "register", "registered"]

OWNERS: Final[tuple[OwnerSchema, ...]] = (
    transport.SCHEMA,
    dispatcher.SCHEMA,
    raft.SCHEMA,
    membership.SCHEMA,
    control.SCHEMA,
    ca.SCHEMA,
    logs.SCHEMA,
)

_REGISTRY: dict[str, MessageType] = {}


def register(message_type: MessageType) -> MessageType:
    """Declare a message type; returns it. Declaring the same name twice is an error unless
    both declarations are equal (so a module may be imported twice)."""
    existing = _REGISTRY.get(message_type.name)
    if existing is not None and existing != message_type:
        raise ValueError(f"message type {message_type.name!r} is already declared differently")
    _REGISTRY[message_type.name] = message_type
    return message_type


def lookup(name: str) -> MessageType | None:
    return _REGISTRY.get(name)


def registered() -> Mapping[str, MessageType]:
    """A read-only view of every declared type, by name."""
    return MappingProxyType(_REGISTRY)


def by_name(owners: tuple[OwnerSchema, ...]) -> dict[str, MessageType]:
    """Every owner's types by name; a name declared by two owners is an error."""
    types: dict[str, MessageType] = {}
    owner_of: dict[str, str] = {}
    for schema in owners:
        for message_type in schema.types:
            name = message_type.name
            if name in owner_of:
                raise ValueError(
                    f"message type {name!r} is declared by both {owner_of[name]} and {schema.owner}"
                )
            owner_of[name] = schema.owner
            types[name] = message_type
    return types


for _message_type in by_name(OWNERS).values():
    register(_message_type)
