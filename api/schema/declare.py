"""The language message types are declared in: field types, fields, message types, and
the `OwnerSchema` each owner's module collects its declarations in.

A message type is a name and the fields of its body, each with a type and whether it is
required; a request type names the type of its reply. Optional fields may be absent but,
when present, must have the declared type (or be nil for a `Nullable` type). Fields not
declared are kept, unread: a newer peer may send more (a rolling upgrade runs nodes of two
versions together, as SwarmKit's protobuf messages skip unknown fields). A ``strict`` type
refuses them instead, at every level of its `Struct` fields: a user's request (the control
API, `OwnerSchema(strict_requests=True)`), where a mistyped field must not pass unnoticed.
Declaring only: `transport.codec` validates against these declarations.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

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


class _Value:
    """A frozen value: slots, equal to one of its own type with equal fields, hashable,
    shown as its constructor call. Plain classes rather than dataclasses: a dataclass
    compiles its methods at import, and these seven cost every ``swarmctl`` ~25M
    instructions (4% of a ``service create``)."""

    __slots__: tuple[str, ...] = ()
    _FIELDS: ClassVar[tuple[str, ...]] = ()  # in their order (the slots are sorted)

    def _init(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a {type(self).__name__}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Value)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._FIELDS)
        return f"{type(self).__name__}({fields})"


class Scalar(_Value):
    """A msgpack scalar: ``str``, ``int`` (not bool), ``float`` (int accepted), ``bool``,
    ``bytes`` (msgpack bin), or ``any`` (any plain msgpack value, checked recursively)."""

    __slots__ = ("name",)
    _FIELDS = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        self._init(name=name)

    def __str__(self) -> str:
        return self.name


class ListOf(_Value):
    __slots__ = ("item",)
    _FIELDS = ("item",)
    item: FieldType

    def __init__(self, item: FieldType) -> None:
        self._init(item=item)

    def __str__(self) -> str:
        return f"list[{self.item}]"


class MapOf(_Value):
    """A map with string keys and values of one type."""

    __slots__ = ("value",)
    _FIELDS = ("value",)
    value: FieldType

    def __init__(self, value: FieldType) -> None:
        self._init(value=value)

    def __str__(self) -> str:
        return f"map[str, {self.value}]"


class Struct(_Value):
    """A nested map with declared fields, validated like a body."""

    __slots__ = ("fields",)
    _FIELDS = ("fields",)
    fields: tuple[Field, ...]

    def __init__(self, fields: tuple[Field, ...]) -> None:
        self._init(fields=fields)

    def __str__(self) -> str:
        return "map"


class Nullable(_Value):
    """The inner type, or nil."""

    __slots__ = ("inner",)
    _FIELDS = ("inner",)
    inner: FieldType

    def __init__(self, inner: FieldType) -> None:
        self._init(inner=inner)

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


class Field(_Value):
    __slots__ = ("name", "required", "type")
    _FIELDS = ("name", "type", "required")
    name: str
    type: FieldType
    required: bool

    def __init__(self, name: str, type: FieldType, required: bool = True) -> None:
        self._init(name=name, type=type, required=required)


# -- message types -------------------------------------------------------------------------


class MessageType(_Value):
    """A message type: its name, its body's fields and, for a request, its reply's type;
    ``strict``: a body with a field not declared is refused (the module's rule)."""

    __slots__ = ("doc", "fields", "name", "reply", "strict")
    _FIELDS = ("name", "fields", "reply", "doc", "strict")
    name: str
    fields: tuple[Field, ...]
    reply: str | None
    doc: str
    strict: bool

    def __init__(
        self,
        name: str,
        fields: tuple[Field, ...] = (),
        reply: str | None = None,
        doc: str = "",
        strict: bool = False,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a message type needs a non-empty name")
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError(f"message type {name!r} declares a field twice")
        _check_types(name, fields)
        self._init(name=name, fields=fields, reply=reply, doc=doc, strict=strict)


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
    owner is an error here, across owners there. ``strict_requests``: the owner's requests
    (the types that name a reply) are declared strict, and ``declare`` returns them so: its
    requests are a user's input; its replies and streams stay open to newer fields.
    """

    def __init__(self, owner: str, *, strict_requests: bool = False) -> None:
        self.owner = owner
        self.strict_requests = strict_requests
        self._types: dict[str, MessageType] = {}

    def declare(self, message_type: MessageType) -> MessageType:
        if message_type.name in self._types:
            raise ValueError(f"{self.owner} declares message type {message_type.name!r} twice")
        if self.strict_requests and message_type.reply is not None and not message_type.strict:
            mt = message_type
            message_type = MessageType(mt.name, mt.fields, mt.reply, mt.doc, strict=True)
        self._types[message_type.name] = message_type
        return message_type

    @property
    def types(self) -> tuple[MessageType, ...]:
        return tuple(self._types.values())
