"""Encoding and decoding of wire frames: the only place msgpack is decoded and validated.

`decode` turns any bytes at all into either a valid `Envelope` (its body checked against
the type's declaration in `api.schema.registry`) or a `CodecError` naming what was wrong. The
caller passes the `DecodeLimits` of the frame's sender (a stranger's are small): frames
over its size are refused before msgpack sees them; msgpack runs with its string, bin,
array and map limits (refused from a header, before anything is built), a budget on the
elements of all containers together (counted as each container completes, so a frame of
millions of tiny maps stops after the budget's worth), no ext types, ``raw=False`` and
``strict_map_key``. `encode` checks the body against the same declarations, so a peer
never receives what it would refuse.

A body field its type does not declare is kept, unread (a newer peer's: nodes of two
versions talk during a rolling upgrade), except in a ``strict`` type (a user's control
request, api/schema/declare.py), where it is refused naming it. An unknown message type
or protocol version is refused either way: the envelope's version (`PROTOCOL_VERSION`)
changes only with a change older nodes cannot read, and so never within a rolling upgrade.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import msgpack

from api.codec_pack import Packed, give_back, take_packer
from api.errors import (
    BadEnvelope,
    BadField,
    CodecError,
    FrameTooLarge,
    LimitExceeded,
    UndecodableFrame,
    UnknownMessageType,
)
from api.schema.declare import Field, FieldType, ListOf, MapOf, Nullable, Scalar, Struct
from api.schema.frame import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MEMBER_LIMITS,
    PROTOCOL_VERSION,
    DecodeLimits,
    Envelope,
)
from api.schema.registry import lookup
from transport.body_checks import accepts

__all__ = [
    "MAX_REQUEST_ID",
    "CodecError",
    "Envelope",
    "Packed",
    "decode",
    "encode",
    "encode_error",
]

MAX_REQUEST_ID: Final = 2**64 - 1
_SHOWN: Final = 64  # at most this many characters of peer-supplied text in a message


def encode(
    message_type: str,
    body: Mapping[str, Any] | Packed | None = None,
    *,
    request_id: int = 0,
    more: bool = False,
    max_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    check: bool = True,
) -> bytes:
    """One frame holding a message of ``message_type``; raises `CodecError` if the body
    does not match the declaration or the frame would exceed ``max_size``. ``check=False``
    skips matching the body to its declaration, for a body built field by field by our own
    typed encoders (a dispatcher's frame of 100 tasks: the walk cost as much as building
    it); a value msgpack cannot pack is still refused. A `Packed` body is checked by
    unpacking it, unless ``check=False``."""
    mt = lookup(message_type)
    if mt is None:
        raise UnknownMessageType(f"unknown message type {_show(message_type)}")
    if type(request_id) is not int or not 0 <= request_id <= MAX_REQUEST_ID:
        raise BadEnvelope(f"request id {request_id!r} is not an int in [0, 2**64)")
    packer = take_packer()
    try:
        frame = _envelope(
            packer.pack, message_type, body, request_id, more, check, mt.fields, mt.strict
        )
    finally:
        give_back(packer)
    if len(frame) > max_size:
        raise FrameTooLarge(f"frame of {len(frame)} bytes exceeds the limit of {max_size}")
    return frame


def _envelope(
    pack: Callable[[Any], bytes],
    message_type: str,
    body: Mapping[str, Any] | Packed | None,
    request_id: int,
    more: bool,
    check: bool,
    fields: tuple[Field, ...],
    strict: bool,
) -> bytes:
    if isinstance(body, Packed):
        if check:
            _check_body(_unpack_own(body, message_type), fields, None, strict=strict)
        # the envelope as msgpack packs `encode`'s map below: the same bytes
        frame = b"".join(
            (
                _HEAD_MORE if more else _HEAD_LAST,
                pack(message_type),
                _ID_KEY,
                pack(request_id),
                _BODY_KEY,
                body,
                _MORE_TRUE if more else b"",
            )
        )
    else:
        b: dict[str, Any] = {} if body is None else body if type(body) is dict else dict(body)
        if check:
            _check_body(b, fields, None, strict=strict)
        envelope: dict[str, Any] = {
            "v": PROTOCOL_VERSION,
            "t": message_type,
            "id": request_id,
            "b": b,
        }
        if more:
            envelope["more"] = True
        try:
            frame = pack(envelope)
        except (TypeError, ValueError, OverflowError) as exc:
            raise BadField(f"body of {message_type!r} cannot be encoded: {exc}") from exc
    return frame


# a map of four (five: "more" ends it), "v", the version, "t": the type comes next
_V_T: Final = msgpack.packb("v") + msgpack.packb(PROTOCOL_VERSION) + msgpack.packb("t")
_HEAD_LAST: Final = b"\x84" + _V_T
_HEAD_MORE: Final = b"\x85" + _V_T
_ID_KEY: Final = msgpack.packb("id")
_BODY_KEY: Final = msgpack.packb("b")
_MORE_TRUE: Final = msgpack.packb("more") + msgpack.packb(True)


def _unpack_own(body: Packed, message_type: str) -> dict[str, Any]:
    try:
        unpacked = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many kinds
        raise BadField(f"body of {message_type!r} is not one msgpack value: {exc}") from None
    if type(unpacked) is not dict:
        raise BadField(f"body of {message_type!r} is {_kind(unpacked)}, expected map")
    return unpacked


def encode_error(request_id: int, code: str, message: str) -> bytes:
    """An ``error`` reply to request ``request_id``."""
    return encode("error", {"code": code, "message": message}, request_id=request_id)


def decode(frame: bytes | memoryview, *, limits: DecodeLimits = MEMBER_LIMITS) -> Envelope:
    """The validated message in ``frame``, or `CodecError` saying what is wrong with it.
    ``limits``: those of the frame's sender (`api.schema.frame`)."""
    size = frame.nbytes if isinstance(frame, memoryview) else len(frame)
    if size > limits.max_size:
        raise FrameTooLarge(f"frame of {size} bytes exceeds the limit of {limits.max_size}")
    # Every element counted (an array's item, a map's entry) starts at a byte of its own,
    # so a frame of at most max_items bytes cannot go over the budget: it needs no hooks.
    hooks = _ItemBudget(limits.max_items).hooks() if size > limits.max_items else _NO_HOOKS
    try:
        obj = msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=limits.max_str_len,
            max_bin_len=limits.max_bin_len,
            max_array_len=limits.max_array_len,
            max_map_len=limits.max_map_len,
            max_ext_len=0,
            **hooks,
        )
    except _OverBudget:
        raise LimitExceeded(
            f"frame holds more than {limits.max_items} elements in its arrays and maps",
            request_id=_salvage_id(frame),
        ) from None
    except ValueError as exc:
        text = str(exc)
        if "exceeds max_" in text and "max_ext_len" not in text:
            raise LimitExceeded(
                f"frame exceeds a decode limit: {_reason(exc)}", request_id=_salvage_id(frame)
            ) from None
        raise UndecodableFrame(
            f"frame is not one msgpack object: {_reason(exc)}", request_id=_salvage_id(frame)
        ) from None
    except Exception as exc:  # msgpack raises many kinds; all mean "not one valid object"
        raise UndecodableFrame(
            f"frame is not one msgpack object: {_reason(exc)}", request_id=_salvage_id(frame)
        ) from None
    if type(obj) is not dict:
        raise BadEnvelope(f"envelope is {_kind(obj)}, expected map")

    rid = obj.get("id")
    request_id = rid if type(rid) is int and 0 <= rid <= MAX_REQUEST_ID else None
    if "id" not in obj:
        raise BadEnvelope('envelope misses field "id"')
    if request_id is None:
        raise BadEnvelope(f'envelope field "id" is {_kind(rid)}, expected int in [0, 2**64)')

    version = obj.get("v")
    if type(version) is not int:
        raise BadEnvelope(
            'envelope misses field "v"'
            if version is None
            else f'envelope field "v" is {_kind(version)}, expected int',
            request_id=request_id,
        )
    if version != PROTOCOL_VERSION:
        raise BadEnvelope(
            f"unsupported protocol version {version}, expected {PROTOCOL_VERSION}",
            request_id=request_id,
        )

    message_type = obj.get("t")
    if type(message_type) is not str:
        raise BadEnvelope(
            'envelope misses field "t"'
            if message_type is None
            else f'envelope field "t" is {_kind(message_type)}, expected str',
            request_id=request_id,
        )
    mt = lookup(message_type)
    if mt is None:
        raise UnknownMessageType(
            f"unknown message type {_show(message_type)}", request_id=request_id
        )

    more = obj.get("more", False)
    if type(more) is not bool:
        raise BadEnvelope(
            f'envelope field "more" is {_kind(more)}, expected bool', request_id=request_id
        )

    body = obj.get("b")
    if type(body) is not dict:
        raise BadEnvelope(
            'envelope misses field "b"'
            if "b" not in obj
            else f'envelope field "b" is {_kind(body)}, expected map',
            request_id=request_id,
        )
    # the unpacker made only plain values (no ext types: max_ext_len=0; map keys str or
    # bytes: strict_map_key; every int within msgpack's range): an "any" field needs no
    # walk. The generated check says whether the body is right; the walk, what is wrong.
    if not accepts(mt, body):
        _check_body(body, mt.fields, request_id, unpacked=True, strict=mt.strict)
    return Envelope(message_type, request_id, body, more, version)


_HEAD: Final = 256  # bytes enough for v, t (a type name) and id, as `encode` orders them


def _salvage_id(frame: bytes | memoryview) -> int | None:
    """The request id of a frame that did not decode, when its envelope names it before
    the body (as `encode` writes it), so that the sender can be answered; else None. Reads
    the first `_HEAD` bytes only, with lengths too small to build anything large."""
    unpacker = msgpack.Unpacker(
        raw=False,
        max_buffer_size=_HEAD,
        max_str_len=_HEAD,
        max_bin_len=0,
        max_array_len=0,
        max_map_len=0,
        max_ext_len=0,
    )
    try:
        unpacker.feed(bytes(frame[:_HEAD]))
        for _ in range(min(unpacker.read_map_header(), 4)):
            key = unpacker.unpack()
            if key == "b":
                return None
            value = unpacker.unpack()
            if key == "id":
                ok = type(value) is int and 0 < value <= MAX_REQUEST_ID
                return value if ok else None
    except Exception:  # anything short of a readable id: nothing to answer
        return None
    return None


class _OverBudget(Exception):
    pass


class _ItemBudget:
    """msgpack's hooks, called as each map and array completes: counts their elements
    (map entries, array items) and stops decoding once there are more than ``limit``."""

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = limit

    def map(self, value: dict[str, Any]) -> dict[str, Any]:
        self.left -= len(value)
        if self.left < 0:
            raise _OverBudget
        return value

    def array(self, value: list[Any]) -> list[Any]:
        self.left -= len(value)
        if self.left < 0:
            raise _OverBudget
        return value

    def hooks(self) -> dict[str, Any]:
        return {"object_hook": self.map, "list_hook": self.array}


_NO_HOOKS: Final[dict[str, Any]] = {}


# -- validation ----------------------------------------------------------------------------
# The checks build no path on the way down (a list of a thousand entries must not format a
# thousand strings): a failure raises `_Invalid` with its message, each container level on
# the way out adds its step ("[3]", ".key", ".field"), and the top turns it into a BadField
# naming the whole path.

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


def _check_body(
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
                exc.steps.append(dot + (key if type(key) is str else repr(key))[:_SHOWN])
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
            raise _Invalid(f'field "{_PATH}" has wrong type {_kind(value)}, expected {t}')
    elif tt is Nullable:
        if value is not None:
            _check(value, t.inner, walk, strict)  # type: ignore[union-attr]
    elif tt is ListOf:
        if type(value) is not list and type(value) is not tuple:
            raise _Invalid(f'field "{_PATH}" has wrong type {_kind(value)}, expected {t}')
        item = t.item  # type: ignore[union-attr]
        if type(item) is Scalar and item.name in _SCALAR_TYPES:
            accepted = _SCALAR_TYPES[item.name]
            for i, element in enumerate(value):
                if type(element) not in accepted:
                    exc = _Invalid(
                        f'field "{_PATH}" has wrong type {_kind(element)}, expected {item}'
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
            raise _Invalid(f'field "{_PATH}" has wrong type {_kind(value)}, expected {t}')
        inner = t.value  # type: ignore[union-attr]
        for k, v in value.items():
            if type(k) is not str:
                raise _Invalid(f'field "{_PATH}" has a key of type {_kind(k)}, expected str')
            try:
                _check(v, inner, walk, strict)
            except _Invalid as exc:
                exc.steps.append(f".{k}")
                raise
    elif tt is Struct:
        if type(value) is not dict:
            raise _Invalid(f'field "{_PATH}" has wrong type {_kind(value)}, expected map')
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
                    raise _Invalid(f'field "{_PATH}" holds a map key of type {_kind(k)}')
                stack.append(item)
        else:
            raise _Invalid(
                f'field "{_PATH}" holds a value of type {vt.__name__}, not plain msgpack'
            )


def _kind(value: Any) -> str:
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


def _show(text: str) -> str:
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
    return f'"{shown}"'


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 2 * _SHOWN else text[: 2 * _SHOWN] + "…"
