"""The walk that checks a body against its declaration and names the path of what is wrong.

`transport.codec` runs it on every body it encodes (unless told not to) and, on decoding,
only when the generated check (`transport.body_checks.accepts`) refused the body: the walk
is the reference, the generated check the same rules faster. The rules: a declared
scalar's value has its type exactly (a float field takes an int); a list's items and a
map's values (keys str) each match the declared item; a `Struct` is a map of its fields; a
value declared as any plain value is one (nil, bool, int within msgpack's range, float,
str, bin, array, map with str or bin keys), walked only when it did not come out of
msgpack's unpacker. A field not declared is not looked at, unless the type is ``strict``.

The checks build no path on the way down (a list of a thousand entries must not format a
thousand strings): a failure raises `_Invalid` with its message, each container level on
the way out adds its step ("[3]", ".key", ".field"), and the top turns it into a BadField
naming the whole path. `kind` and `show` word a value's type and a peer's text for any
codec error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from api.errors import BadField
from api.schema.declare import Field, FieldType, ListOf, MapOf, Nullable, Scalar, Struct
from api.schema.frame import MAX_REQUEST_ID

__all__ = ["SHOWN", "check_body", "kind", "show"]

SHOWN: Final = 64  # at most this many characters of peer-supplied text in a message

_PATH: Final = "{path}"  # where the message names the field's path
_SCALAR_TYPES: Final[dict[str, frozenset[type]]] = {
    "str": frozenset({str}),
    "int": frozenset({int}),
    "float": frozenset({float, int}),
    "bool": frozenset({bool}),
    "bytes": frozenset({bytes, bytearray}),
}


class _Invalid(Exception):
    """A value that does not match its declaration; ``steps`` from the innermost out."""

    __slots__ = ("message", "steps")

    def __init__(self, message: str) -> None:
        self.message = message  # with `_PATH` where the path goes
        self.steps: list[str] = []


def check_body(
    value: Mapping[Any, Any],
    fields: tuple[Field, ...],
    rid: int | None,
    unpacked: bool = False,
    *,
    strict: bool,
) -> None:
    """Check a body against ``fields``; BadField names the path of what is wrong.
    ``unpacked``: the body came out of msgpack's unpacker (`decode`), so a value declared
    as any plain value is one (a task in a session frame: walking it was a third of what
    decoding the frame cost). ``strict``: a key not declared, in the body or a `Struct`
    in it, is wrong."""
    try:
        _fields(value, fields, "", not unpacked, strict)
    except _Invalid as exc:
        path = "".join(reversed(exc.steps))
        raise BadField(exc.message.replace(_PATH, path), request_id=rid) from None


def _fields(
    value: Mapping[Any, Any], fields: tuple[Field, ...], dot: str, walk: bool, strict: bool
) -> None:
    if strict:
        known = {f.name for f in fields}
        for key in value:
            if key not in known:
                exc = _Invalid(f'unknown field "{_PATH}"')
                exc.steps.append(dot + (key if type(key) is str else repr(key))[:SHOWN])
                raise exc
    for f in fields:
        name = f.name
        if name not in value:
            if f.required:
                exc = _Invalid(f'missing field "{_PATH}"')
                exc.steps.append(dot + name)
                raise exc
            continue
        try:
            _check(value[name], f.type, walk, strict)
        except _Invalid as exc:
            exc.steps.append(dot + name)
            raise


def _check(value: Any, t: FieldType, walk: bool, strict: bool) -> None:
    """``walk``: check a value declared as any plain value (not needed for an unpacked one);
    ``strict``: refuse a key a `Struct` does not declare."""
    tt = type(t)
    if tt is Scalar:
        accepted = _SCALAR_TYPES.get(t.name)  # type: ignore[union-attr]
        if accepted is None:
            if walk:
                _check_plain(value)
        elif type(value) not in accepted:
            raise _Invalid(f'field "{_PATH}" has wrong type {kind(value)}, expected {t}')
    elif tt is Nullable:
        if value is not None:
            _check(value, t.inner, walk, strict)  # type: ignore[union-attr]
    elif tt is ListOf:
        if type(value) is not list and type(value) is not tuple:
            raise _Invalid(f'field "{_PATH}" has wrong type {kind(value)}, expected {t}')
        item = t.item  # type: ignore[union-attr]
        if type(item) is Scalar and item.name in _SCALAR_TYPES:
            accepted = _SCALAR_TYPES[item.name]
            for i, element in enumerate(value):
                if type(element) not in accepted:
                    exc = _Invalid(
                        f'field "{_PATH}" has wrong type {kind(element)}, expected {item}'
                    )
                    exc.steps.append(f"[{i}]")
                    raise exc
            return
        for i, element in enumerate(value):
            try:
                _check(element, item, walk, strict)
            except _Invalid as exc:
                exc.steps.append(f"[{i}]")
                raise
    elif tt is MapOf:
        if type(value) is not dict:
            raise _Invalid(f'field "{_PATH}" has wrong type {kind(value)}, expected {t}')
        inner = t.value  # type: ignore[union-attr]
        for k, v in value.items():
            if type(k) is not str:
                raise _Invalid(f'field "{_PATH}" has a key of type {kind(k)}, expected str')
            try:
                _check(v, inner, walk, strict)
            except _Invalid as exc:
                exc.steps.append(f".{k}")
                raise
    elif tt is Struct:
        if type(value) is not dict:
            raise _Invalid(f'field "{_PATH}" has wrong type {kind(value)}, expected map')
        _fields(value, t.fields, ".", walk, strict)  # type: ignore[union-attr]


_PLAIN: Final = (type(None), bool, int, float, str, bytes, bytearray)


def _check_plain(value: Any) -> None:
    """Any plain msgpack value (nil, bool, int, float, str, bin, array, map of str/bin)."""
    stack = [value]
    while stack:
        v = stack.pop()
        vt = type(v)
        if vt in _PLAIN:
            if vt is int and not -(2**63) <= v <= MAX_REQUEST_ID:
                raise _Invalid(f'field "{_PATH}" holds an int out of range')
        elif vt is list or vt is tuple:
            stack.extend(v)
        elif vt is dict:
            for k, item in v.items():
                if type(k) is not str and type(k) is not bytes:
                    raise _Invalid(f'field "{_PATH}" holds a map key of type {kind(k)}')
                stack.append(item)
        else:
            raise _Invalid(
                f'field "{_PATH}" holds a value of type {vt.__name__}, not plain msgpack'
            )


def kind(value: Any) -> str:
    """The msgpack name of a decoded value's type, for error messages."""
    if value is None:
        return "nil"
    vt = type(value)
    if vt is bool:
        return "bool"
    if vt is int:
        return "int"
    if vt is float:
        return "float"
    if vt is str:
        return "str"
    if vt is bytes or vt is bytearray:
        return "bytes"
    if vt is list or vt is tuple:
        return "list"
    if vt is dict:
        return "map"
    return vt.__name__


def show(text: str) -> str:
    """Peer-supplied ``text`` quoted, cut to `SHOWN` characters."""
    shown = text if len(text) <= SHOWN else text[:SHOWN] + "…"
    return f'"{shown}"'
