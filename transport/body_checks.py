"""The decoding side's check of a body against its declaration, generated per message type.

`codec.decode` asks `accepts(message_type, body)` first: a function generated once per
type from its declared fields, each check written inline (a type test per value, no call
per field), that answers only yes or no. On no, the walk (`transport.body_walk`) runs
and raises the BadField that names the path of what is wrong: the walk is the reference,
this the same rules faster (a session frame's walk was a third of decoding a frame of one
task). The rules are those of the walk for a body msgpack's unpacker made (``unpacked``:
a value declared as any plain value is one, and is not walked). A field not declared is
not looked at, unless the type is ``strict`` (a user's request: api/schema/declare.py):
then each map's keys are checked against its declared names, in that type's check alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from api.schema.declare import (
    Field,
    FieldType,
    ListOf,
    MapOf,
    MessageType,
    Nullable,
    Scalar,
    Struct,
)

__all__ = ["accepts", "checker_source"]

# the types a scalar accepts (body_walk._SCALAR_TYPES); "any" is absent: anything unpacked
_ACCEPTED: Final[dict[str, tuple[str, ...]]] = {
    "str": ("str",),
    "int": ("int",),
    "float": ("float", "int"),
    "bool": ("bool",),
    "bytes": ("bytes", "bytearray"),
}

_Check = Callable[[dict[str, Any]], bool]
_CHECKS: dict[int, tuple[MessageType, _Check]] = {}  # by id: hashing a type walks it


def accepts(message_type: MessageType, body: dict[str, Any]) -> bool:
    """Whether ``body`` (unpacked) matches ``message_type``'s declaration."""
    held = _CHECKS.get(id(message_type))
    if held is None or held[0] is not message_type:
        check = _compile(message_type.fields, message_type.strict)
        held = _CHECKS[id(message_type)] = (message_type, check)
    return held[1](body)


def _compile(fields: tuple[Field, ...], strict: bool) -> _Check:
    env: dict[str, Any] = {"_MISSING": _MISSING}
    exec(checker_source(fields, strict), env)  # built from the declarations' own names only
    check: _Check = env["check"]
    return check


_MISSING: Final = object()


def checker_source(fields: tuple[Field, ...], strict: bool = False) -> str:
    """The Python source of the check of a body declared as ``fields``; ``strict``: a key
    of the body or of a `Struct` in it that names no declared field fails it."""
    source = _Source(strict)
    source.fields(fields, "body", 1)
    return "def check(body):\n" + "".join(source.lines) + "    return True\n"


class _Source:
    def __init__(self, strict: bool) -> None:
        self.lines: list[str] = []
        self._names = 0
        self._strict = strict

    def name(self) -> str:
        self._names += 1
        return f"v{self._names}"

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text + "\n")

    def fields(self, fields: tuple[Field, ...], mapping: str, depth: int) -> None:
        if self._strict:  # a set display after ``in`` is compiled to a constant frozenset
            known = ", ".join(repr(f.name) for f in fields)
            key = self.name()
            self.line(depth, f"for {key} in {mapping}:")
            self.line(depth + 1, f"if {key} not in {{{known}}}: return False")
        for f in fields:
            key = repr(f.name)
            if _is_any(f.type):  # present, or absent if it may be: nothing else to check
                if f.required:
                    self.line(depth, f"if {key} not in {mapping}: return False")
                continue
            value = self.name()
            self.line(depth, f"{value} = {mapping}.get({key}, _MISSING)")
            if f.required:
                self.line(depth, f"if {value} is _MISSING: return False")
                self.value(f.type, value, depth)
            else:
                self.line(depth, f"if {value} is not _MISSING:")
                self.value(f.type, value, depth + 1)

    def value(self, t: FieldType, value: str, depth: int) -> None:
        """Lines that return False unless ``value`` is of type ``t`` (at least one line)."""
        if isinstance(t, Scalar):
            accepted = _ACCEPTED.get(t.name)
            if accepted is None:
                self.line(depth, "pass")
            else:
                test = " and ".join(f"type({value}) is not {a}" for a in accepted)
                self.line(depth, f"if {test}: return False")
        elif isinstance(t, Nullable):
            self.line(depth, f"if {value} is not None:")
            self.value(t.inner, value, depth + 1)
        elif isinstance(t, ListOf):
            self.line(depth, f"if type({value}) is not list and type({value}) is not tuple:")
            self.line(depth + 1, "return False")
            if not _is_any(t.item):
                item = self.name()
                self.line(depth, f"for {item} in {value}:")
                self.value(t.item, item, depth + 1)
        elif isinstance(t, MapOf):
            self.line(depth, f"if type({value}) is not dict: return False")
            key, item = self.name(), self.name()
            self.line(depth, f"for {key}, {item} in {value}.items():")
            self.line(depth + 1, f"if type({key}) is not str: return False")
            self.value(t.value, item, depth + 1)
        elif isinstance(t, Struct):
            self.line(depth, f"if type({value}) is not dict: return False")
            self.fields(t.fields, value, depth)
        else:  # pragma: no cover - declare.py admits no other
            raise TypeError(f"no check for {t!r}")


def _is_any(t: FieldType) -> bool:
    return isinstance(t, Scalar) and t.name not in _ACCEPTED
