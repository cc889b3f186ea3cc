"""The language message types are declared in: field types, fields, message types, and
the `OwnerSchema` each owner's module collects its declarations in.

A message type is a name and the fields of its body, each with a type and whether it is
required; a request type names the type of its reply. Fields not declared are kept (newer
peers may send more); optional fields may be absent but, when present, must have the
declared type (or be nil for a `Nullable` type). Declaring only: `transport.codec`
validates against these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ANY",
    "BOOL",
    "BYTES",
    "FLOAT",
    "INT",
    "STR",
    "Field",
    "FieldType",
    "ListOf",
    "MapOf",
    "MessageType",
    "Nullable",
    "OwnerSchema",
    "Scalar",
    "Struct",
]


# -- field types ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scalar:
    """A msgpack scalar: ``str``, ``int`` (not bool), ``float`` (int accepted), ``bool``,
    ``bytes`` (msgpack bin), or ``any`` (any plain msgpack value, checked recursively)."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ListOf:
    item: FieldType

    def __str__(self) -> str:
        return f"list[{self.item}]"


@dataclass(frozen=True, slots=True)
class MapOf:
    """A map with string keys and values of one type."""

    value: FieldType

    def __str__(self) -> str:
        return f"map[str, {self.value}]"


@dataclass(frozen=True, slots=True)
class Struct:
    """A nested map with declared fields, validated like a body."""

    fields: tuple[Field, ...]

    def __str__(self) -> str:
        return "map"


@dataclass(frozen=True, slots=True)
class Nullable:
    """The inner type, or nil."""

    inner: FieldType

    def __str__(self) -> str:
        return f"{self.inner} or nil"


FieldType = Scalar | ListOf | MapOf | Struct | Nullable

STR: Final = Scalar("str")
INT: Final = Scalar("int")
FLOAT: Final = Scalar("float")
BOOL: Final = Scalar("bool")
BYTES: Final = Scalar("bytes")
ANY: Final = Scalar("any")

SCALAR_NAMES: Final = frozenset({"str", "int", "float", "bool", "bytes", "any"})


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    required: bool = True


# -- message types -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageType:
    """A message type: its name, its body's fields and, for a request, its reply's type."""

    name: str
    fields: tuple[Field, ...] = ()
    reply: str | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("a message type needs a non-empty name")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"message type {self.name!r} declares a field twice")
        _check_types(self.name, self.fields)


def _check_types(where: str, fields: tuple[Field, ...]) -> None:
    for f in fields:
        stack: list[FieldType] = [f.type]
        while stack:
            t = stack.pop()
            if isinstance(t, Scalar):
                if t.name not in SCALAR_NAMES:
                    raise ValueError(f"{where}.{f.name}: unknown scalar type {t.name!r}")
            elif isinstance(t, ListOf):
                stack.append(t.item)
            elif isinstance(t, MapOf):
                stack.append(t.value)
            elif isinstance(t, Nullable):
                stack.append(t.inner)
            elif isinstance(t, Struct):
                _check_types(f"{where}.{f.name}", t.fields)
            else:
                raise TypeError(f"{where}.{f.name}: not a field type: {t!r}")


class OwnerSchema:
    """The message types one owner declares, in one module of `api.schema`.

    ``declare`` returns the type, so a module reads as a list of declarations::

        SCHEMA: Final = OwnerSchema("raft")
        RAFT_STATUS: Final = SCHEMA.declare(MessageType("raft.status", reply="raft.status.reply"))

    `api.schema.registry` registers every owner's types; declaring a name twice in one
    owner is an error here, across owners there.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._types: dict[str, MessageType] = {}

    def declare(self, message_type: MessageType) -> MessageType:
        if message_type.name in self._types:
            raise ValueError(f"{self.owner} declares message type {message_type.name!r} twice")
        self._types[message_type.name] = message_type
        return message_type

    @property
    def types(self) -> tuple[MessageType, ...]:
        return tuple(self._types.values())
