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

Beside it: `transport.decode_guard` (the item budget's hooks, and the error for a frame
msgpack refused, with the request id salvaged from its head) and `transport.body_walk`
(the walk that names the path of a body's fault; `transport.body_checks` the generated
yes-or-no check that `decode` asks first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import msgpack

from api.codec_pack import Packed, give_back, take_packer
from api.errors import BadEnvelope, BadField, CodecError, FrameTooLarge, UnknownMessageType
from api.schema.declare import Field
from api.schema.frame import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_REQUEST_ID,
    MEMBER_LIMITS,
    PROTOCOL_VERSION,
    DecodeLimits,
    Envelope,
)
from api.schema.registry import lookup
from transport.body_checks import accepts
from transport.body_walk import check_body, kind, show
from transport.decode_guard import NO_HOOKS, ItemBudget, refusal

__all__ = [
    "MAX_REQUEST_ID",
    "CodecError",
    "Envelope",
    "Packed",
    "decode",
    "encode",
    "encode_error",
]


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
        raise UnknownMessageType(f"unknown message type {show(message_type)}")
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
            check_body(_unpack_own(body, message_type), fields, None, strict=strict)
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
            check_body(b, fields, None, strict=strict)
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
        raise BadField(f"body of {message_type!r} is {kind(unpacked)}, expected map")
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
    hooks = ItemBudget(limits.max_items).hooks() if size > limits.max_items else NO_HOOKS
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
    except Exception as exc:  # msgpack raises many kinds (`refusal` tells them apart)
        raise refusal(exc, frame, limits.max_items) from None
    if type(obj) is not dict:
        raise BadEnvelope(f"envelope is {kind(obj)}, expected map")

    rid = obj.get("id")
    request_id = rid if type(rid) is int and 0 <= rid <= MAX_REQUEST_ID else None
    if "id" not in obj:
        raise BadEnvelope('envelope misses field "id"')
    if request_id is None:
        raise BadEnvelope(f'envelope field "id" is {kind(rid)}, expected int in [0, 2**64)')

    version = obj.get("v")
    if type(version) is not int:
        raise BadEnvelope(
            'envelope misses field "v"'
            if version is None
            else f'envelope field "v" is {kind(version)}, expected int',
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
            else f'envelope field "t" is {kind(message_type)}, expected str',
            request_id=request_id,
        )
    mt = lookup(message_type)
    if mt is None:
        raise UnknownMessageType(
            f"unknown message type {show(message_type)}", request_id=request_id
        )

    more = obj.get("more", False)
    if type(more) is not bool:
        raise BadEnvelope(
            f'envelope field "more" is {kind(more)}, expected bool', request_id=request_id
        )

    body = obj.get("b")
    if type(body) is not dict:
        raise BadEnvelope(
            'envelope misses field "b"'
            if "b" not in obj
            else f'envelope field "b" is {kind(body)}, expected map',
            request_id=request_id,
        )
    # the unpacker made only plain values (no ext types: max_ext_len=0; map keys str or
    # bytes: strict_map_key; every int within msgpack's range): an "any" field needs no
    # walk. The generated check says whether the body is right; the walk, what is wrong.
    if not accepts(mt, body):
        check_body(body, mt.fields, request_id, unpacked=True, strict=mt.strict)
    return Envelope(message_type, request_id, body, more, version)
