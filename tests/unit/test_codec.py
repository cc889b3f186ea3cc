"""The codec: every frame decodes to a valid message or raises CodecError, nothing else."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.codec_pack import give_back, take_packer
from api.errors import (
    BadEnvelope,
    BadField,
    CodecError,
    ErrorCode,
    FrameTooLarge,
    UndecodableFrame,
    UnknownMessageType,
)
from api.schema.declare import (
    ANY,
    BOOL,
    BYTES,
    FLOAT,
    INT,
    STR,
    Field,
    ListOf,
    MapOf,
    MessageType,
    Nullable,
    Struct,
)
from api.schema.frame import MEMBER_LIMITS
from api.schema.registry import lookup, register
from transport.codec import Packed, decode, encode, encode_error

SAMPLE = register(
    MessageType(
        "test.codec.sample",
        (
            Field("name", STR),
            Field("count", INT),
            Field("ratio", FLOAT, required=False),
            Field("flag", BOOL, required=False),
            Field("blob", BYTES, required=False),
            Field("tags", ListOf(STR), required=False),
            Field("labels", MapOf(STR), required=False),
            Field(
                "owner",
                Struct((Field("id", STR), Field("age", INT, required=False))),
                required=False,
            ),
            Field("parent", Nullable(STR), required=False),
            Field("extra", ANY, required=False),
        ),
        reply="pong",
    )
)


def raw(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def envelope(body: Any, **overrides: Any) -> dict[str, Any]:
    env = {"v": 1, "t": "test.codec.sample", "id": 7, "b": body}
    env.update(overrides)
    return env


def test_round_trip_of_every_field_kind() -> None:
    body = {
        "name": "web",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "blob": b"\x00\xff",
        "tags": ["a", "b"],
        "labels": {"k": "v"},
        "owner": {"id": "x"},
        "parent": None,
        "extra": {"nested": [1, 2.5, None, b"x", {"deep": "er"}]},
    }
    env = decode(encode("test.codec.sample", body, request_id=42, more=True))
    assert (env.type, env.id, env.more, env.version) == ("test.codec.sample", 42, True, 1)
    assert env.body == body


def test_builtin_types_are_declared() -> None:
    version_reply = lookup("version.reply")
    assert version_reply is not None
    assert [f.name for f in version_reply.fields] == ["node_id", "role", "version"]
    assert lookup("ping") is not None and lookup("ping").reply == "pong"  # type: ignore[union-attr]
    err = decode(encode_error(9, "internal", "boom"))
    assert (err.type, err.id, dict(err.body)) == (
        "error",
        9,
        {"code": "internal", "message": "boom"},
    )


def test_undeclared_fields_are_kept_and_float_accepts_int() -> None:
    env = decode(raw(envelope({"name": "a", "count": 1, "ratio": 2, "newer": "x"})))
    assert env.body["newer"] == "x"
    assert env.body["ratio"] == 2


@pytest.mark.parametrize(
    ("obj", "error", "text"),
    [
        ([1, 2], BadEnvelope, "envelope is list, expected map"),
        ({"v": 1, "t": "ping", "b": {}}, BadEnvelope, 'misses field "id"'),
        ({"v": 1, "t": "ping", "id": -1, "b": {}}, BadEnvelope, 'field "id" is int'),
        ({"v": 2, "t": "ping", "id": 1, "b": {}}, BadEnvelope, "unsupported protocol version 2"),
        ({"t": "ping", "id": 1, "b": {}}, BadEnvelope, 'misses field "v"'),
        ({"v": 1, "id": 1, "b": {}}, BadEnvelope, 'misses field "t"'),
        ({"v": 1, "t": 5, "id": 1, "b": {}}, BadEnvelope, 'field "t" is int, expected str'),
        ({"v": 1, "t": "ping", "id": 1}, BadEnvelope, 'misses field "b"'),
        ({"v": 1, "t": "ping", "id": 1, "b": []}, BadEnvelope, 'field "b" is list'),
        ({"v": 1, "t": "ping", "id": 1, "b": {}, "more": 1}, BadEnvelope, '"more" is int'),
        (
            {"v": 1, "t": "nope", "id": 1, "b": {}},
            UnknownMessageType,
            'unknown message type "nope"',
        ),
        (envelope({"count": 1}), BadField, 'missing field "name"'),
        (
            envelope({"name": 1, "count": 1}),
            BadField,
            'field "name" has wrong type int, expected str',
        ),
        (envelope({"name": "a", "count": True}), BadField, 'field "count" has wrong type bool'),
        (envelope({"name": "a", "count": 1, "tags": ["x", 2]}), BadField, 'field "tags[1]"'),
        (envelope({"name": "a", "count": 1, "labels": {"k": 1}}), BadField, 'field "labels.k"'),
        (envelope({"name": "a", "count": 1, "owner": {}}), BadField, 'missing field "owner.id"'),
        (envelope({"name": "a", "count": 1, "parent": 3}), BadField, 'field "parent"'),
        (envelope({"name": "a", "count": 1, "blob": "text"}), BadField, "expected bytes"),
    ],
)
def test_invalid_messages_are_named(obj: Any, error: type[CodecError], text: str) -> None:
    with pytest.raises(error) as info:
        decode(raw(obj))
    assert text in str(info.value)


NESTED = register(
    MessageType(
        "test.codec.nested",
        (Field("items", ListOf(Struct((Field("m", MapOf(ListOf(Nullable(INT)))),)))),),
    )
)


@pytest.mark.parametrize(
    ("items", "text"),
    [
        ([{"m": {}}, {"m": {"k": [1, None, "x"]}}], 'field "items[1].m.k[2]" has wrong type str'),
        ([{"m": {"a": []}}, {}], 'missing field "items[1].m"'),
        ([{"m": {"a": [1], "b": 2}}], 'field "items[0].m.b" has wrong type int, expected list'),
        ([{"m": {"a": [1]}}, 5], 'field "items[1]" has wrong type int, expected map'),
    ],
)
def test_a_nested_error_names_the_whole_path(items: list[Any], text: str) -> None:
    """The path is put together on the way out of the failed check (none is built for the
    elements that pass); encode and decode name it alike."""
    with pytest.raises(BadField) as decoded:
        decode(raw({"v": 1, "t": "test.codec.nested", "id": 4, "b": {"items": items}}))
    assert text in str(decoded.value)
    assert decoded.value.request_id == 4
    with pytest.raises(BadField) as encoded:
        encode("test.codec.nested", {"items": items})
    assert text in str(encoded.value)


def test_request_id_is_recovered_for_the_error_reply() -> None:
    with pytest.raises(BadField) as info:
        decode(raw(envelope({"count": 1}, id=99)))
    assert info.value.request_id == 99
    assert info.value.code == ErrorCode.INVALID
    with pytest.raises(UnknownMessageType) as unknown:
        decode(raw({"v": 1, "t": "nope", "id": 5, "b": {}}))
    assert (unknown.value.request_id, unknown.value.code) == (5, ErrorCode.UNKNOWN_TYPE)


def test_undecodable_bytes() -> None:
    for frame in (b"", b"\xc1", b"\x92\x01", raw({"a": 1}) + b"\x00", b"\xd4\x01\x00"):
        with pytest.raises(UndecodableFrame):
            decode(frame)


def test_oversized_frames_are_refused_before_decoding() -> None:
    with pytest.raises(FrameTooLarge) as info:
        # would be undecodable, but size comes first
        decode(b"\xc1" * 101, limits=MEMBER_LIMITS.capped(100))
    assert info.value.code == ErrorCode.TOO_LARGE
    with pytest.raises(FrameTooLarge):
        encode("test.codec.sample", {"name": "x" * 200, "count": 1}, max_size=100)


def test_encode_validates_the_body() -> None:
    with pytest.raises(BadField, match='missing field "name"'):
        encode("test.codec.sample", {"count": 1})
    with pytest.raises(UnknownMessageType):
        encode("nope", {})
    with pytest.raises(BadField, match="not plain msgpack"):
        encode("test.codec.sample", {"name": "a", "count": 1, "extra": object()})
    with pytest.raises(BadEnvelope):
        encode("ping", {}, request_id=-1)


def test_encode_unchecked_skips_the_declaration_but_not_msgpack_or_the_size() -> None:
    frame = encode("test.codec.sample", {"count": "not an int"}, check=False)
    with pytest.raises(BadField, match='missing field "name"'):
        decode(frame)  # the receiver still judges it
    with pytest.raises(BadField, match="cannot be encoded"):
        encode("test.codec.sample", {"name": "a", "count": 1, "extra": object()}, check=False)
    with pytest.raises(FrameTooLarge):
        encode("test.codec.sample", {"name": "x" * 200}, max_size=100, check=False)


@pytest.mark.parametrize("more", [False, True])
@pytest.mark.parametrize("request_id", [0, 7, 2**40, 2**64 - 1])
def test_a_packed_body_makes_the_frame_its_map_makes(more: bool, request_id: int) -> None:
    body = {"name": "a", "count": 3, "tags": ["x", "y"]}
    frame = encode("test.codec.sample", body, request_id=request_id, more=more)
    packed = Packed(msgpack.packb(body))
    assert encode("test.codec.sample", packed, request_id=request_id, more=more) == frame
    unchecked = encode("test.codec.sample", packed, request_id=request_id, more=more, check=False)
    assert unchecked == frame


def test_a_packed_body_is_checked_unless_told_not_to() -> None:
    with pytest.raises(BadField, match='missing field "name"'):
        encode("test.codec.sample", Packed(msgpack.packb({"count": 1})))
    with pytest.raises(BadField, match="expected map"):
        encode("test.codec.sample", Packed(msgpack.packb([1])))
    with pytest.raises(BadField, match="not one msgpack value"):
        encode("test.codec.sample", Packed(b"\xc1"))
    frame = encode("test.codec.sample", Packed(msgpack.packb({"count": 1})), check=False)
    with pytest.raises(BadField, match='missing field "name"'):
        decode(frame)  # the receiver still judges it
    with pytest.raises(FrameTooLarge):
        big = Packed(msgpack.packb({"name": "x" * 200, "count": 1}))
        encode("test.codec.sample", big, max_size=100)


def test_a_packer_packs_on_after_a_value_it_refused() -> None:
    with pytest.raises(BadField, match="cannot be encoded"):
        encode("test.codec.sample", {"name": "a", "extra": object()}, check=False)
    packer = take_packer()
    assert packer.pack({"a": 1}) == msgpack.packb({"a": 1})
    give_back(packer)


def test_register_refuses_a_conflicting_declaration() -> None:
    assert register(SAMPLE) is SAMPLE
    with pytest.raises(ValueError, match="already declared"):
        register(MessageType("test.codec.sample", ()))
    with pytest.raises(ValueError, match="twice"):
        MessageType("test.codec.dup", (Field("a", STR), Field("a", INT)))


# -- any bytes at all ----------------------------------------------------------------------


def _decodes_or_codec_error(frame: bytes) -> None:
    try:
        env = decode(frame, limits=MEMBER_LIMITS.capped(4096))
    except CodecError as exc:
        assert exc.message
        return
    assert lookup(env.type) is not None
    assert isinstance(env.body, dict)


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes(frame: bytes) -> None:
    _decodes_or_codec_error(frame)


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=1000)
@given(st.dictionaries(st.sampled_from(["v", "t", "id", "b", "more", "x"]), msgpack_values))
def test_random_envelopes(obj: dict[str, Any]) -> None:
    _decodes_or_codec_error(raw(obj))


VALID_FRAMES = [
    encode("ping", request_id=1),
    encode("version.reply", {"node_id": "n", "role": "manager", "version": "1"}, request_id=2),
    encode(
        "test.codec.sample",
        {"name": "a", "count": 1, "tags": ["x"], "owner": {"id": "o"}, "extra": [1, {"k": b""}]},
        request_id=3,
        more=True,
    ),
]


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(VALID_FRAMES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(min_value=0, max_value=max(0, len(frame) - 1)))
        if op == "flip" and frame:
            frame[pos] = draw(st.integers(min_value=0, max_value=255))
        elif op == "insert":
            frame[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and frame:
            del frame[pos]
        else:
            del frame[pos:]
    return bytes(frame)


@settings(max_examples=3000)
@given(mutated_frames())
def test_mutated_valid_frames(frame: bytes) -> None:
    _decodes_or_codec_error(frame)


def test_decode_takes_an_any_field_as_the_unpacker_made_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """msgpack's unpacker (no ext types, str or bytes map keys, ints in msgpack's range)
    makes only plain values: decode does not walk an ANY field again (a task in a session
    frame: a third of decoding it). Encode still does: a caller's value may be anything."""
    import transport.body_walk as body_walk

    body = {"name": "a", "count": 1, "extra": {"nested": [1, -(2**63), 2**64 - 1, b"x", None]}}
    frame = encode("test.codec.sample", body)

    def walked(value: Any) -> None:
        raise AssertionError("decode walked an unpacked value")

    monkeypatch.setattr(body_walk, "_check_plain", walked)
    assert decode(frame).body == body
    with pytest.raises(AssertionError, match="walked"):
        encode("test.codec.sample", body)
