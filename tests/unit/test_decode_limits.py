"""Decode limits by trust (issue 8, item 2): a stranger's frames are small and cheap to
refuse, whatever their shape; members' limits come from the schema, not the frame size."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from actors.ca.authorization import ACCESS_BY_TYPE
from actors.ca.certs import create_csr, generate_node_key
from api.errors import ErrorCode, FrameTooLarge, LimitExceeded
from api.schema.declare import ListOf, MapOf, Scalar, Struct
from api.schema.frame import DEFAULT_MAX_MESSAGE_SIZE, MEMBER_LIMITS, REPLY_LIMITS, STRANGER_LIMITS
from api.schema.registry import lookup
from tests.support.flood import BIG_FRAME_BYTES, empty_maps_frame
from transport import codec
from transport.codec import decode, encode
from transport.keys import generate_keypair
from transport.trust import FrameTrust, RefusalTally, Trust


def frame_of(body: dict[str, Any], message_type: str = "ca.join") -> bytes:
    return msgpack.packb({"v": 1, "t": message_type, "id": 9, "b": body}, use_bin_type=True)


def test_a_strangers_big_frame_is_refused_before_msgpack_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = empty_maps_frame(BIG_FRAME_BYTES)

    def never(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("msgpack ran on a frame over the stranger's size")

    monkeypatch.setattr(codec.msgpack, "unpackb", never)
    with pytest.raises(FrameTooLarge, match="exceeds the limit of 65536") as info:
        decode(frame, limits=STRANGER_LIMITS)
    assert info.value.code == ErrorCode.TOO_LARGE
    assert info.value.request_id is None  # nothing was read: nothing to answer


def test_a_view_of_a_buffer_is_measured_in_bytes() -> None:
    frame = empty_maps_frame(STRANGER_LIMITS.max_size + 10)
    with pytest.raises(FrameTooLarge):
        decode(memoryview(frame), limits=STRANGER_LIMITS)


def test_many_tiny_maps_within_the_size_are_refused_by_the_lengths() -> None:
    frame = empty_maps_frame(60_000)
    assert len(frame) < STRANGER_LIMITS.max_size
    with pytest.raises(LimitExceeded, match="max_array_len") as info:
        decode(frame, limits=STRANGER_LIMITS)
    assert info.value.code == ErrorCode.OVER_LIMITS
    assert info.value.request_id == 1  # read from the envelope's head: it can be answered


def test_the_id_of_a_refused_frame_is_read_only_from_before_the_body() -> None:
    body_first = msgpack.packb({"b": {"x": [{}] * 100}, "v": 1, "t": "ca.join", "id": 5})
    with pytest.raises(LimitExceeded) as info:
        decode(body_first, limits=STRANGER_LIMITS)
    assert info.value.request_id is None


def test_nesting_cannot_multiply_the_lengths() -> None:
    # arrays of 30 arrays of 30 empty maps: every length within the stranger's limits,
    # 27,000 maps in all; the element budget stops it after a few hundred
    inner = [{}] * 30
    frame = frame_of({"x": [[inner] * 30] * 30})
    assert len(frame) < STRANGER_LIMITS.max_size
    with pytest.raises(LimitExceeded, match="more than 256 elements"):
        decode(frame, limits=STRANGER_LIMITS)
    # and a member's 15 MiB frame of nested empty maps stops at its budget too
    big = frame_of({"x": [[{}] * 250] * 60_000}, "dispatcher.status")
    assert len(big) > 14 * 1024 * 1024
    with pytest.raises(LimitExceeded, match=f"more than {MEMBER_LIMITS.max_items} elements"):
        decode(big, limits=MEMBER_LIMITS)


def test_long_strings_and_bins_are_refused_from_their_header() -> None:
    with pytest.raises(LimitExceeded, match="max_str_len"):
        decode(frame_of({"token": "x" * 5000, "csr": b"", "hostname": "h"}), limits=STRANGER_LIMITS)
    with pytest.raises(LimitExceeded, match="max_bin_len"):
        decode(
            frame_of({"token": "t", "csr": b"x" * 20_000, "hostname": "h"}), limits=STRANGER_LIMITS
        )


def test_a_real_join_request_fits_a_strangers_limits() -> None:
    csr = create_csr(generate_node_key(), generate_keypair().public)
    body = {
        "token": "SWMTKN-1-" + "a" * 50 + "-" + "b" * 25,
        "csr": csr,
        "hostname": "h" * 253,
        "node_id": "x" * 25,
        "addr": "tcp://[2001:db8::1]:4242",
    }
    for message_type, request in (("ca.join", body), ("ca.root", {}), ("ca.hello", {})):
        envelope = decode(encode(message_type, request, request_id=1), limits=STRANGER_LIMITS)
        assert envelope.body == request


def test_strangers_may_send_only_types_without_containers() -> None:
    """The stranger limits were sized from these declarations: a type open to anyone that
    gains a list or a map (or an ``any``) needs them looked at again."""
    for name in ACCESS_BY_TYPE:
        if ACCESS_BY_TYPE[name] is not None:
            continue
        declared = lookup(name)
        assert declared is not None, name
        for field in declared.fields:
            assert not isinstance(field.type, ListOf | MapOf | Struct), (name, field.name)
            assert field.type != Scalar("any"), (name, field.name)


def test_the_levels_are_ordered_and_not_derived_from_the_frame_size() -> None:
    assert STRANGER_LIMITS.max_size == 64 * 1024
    for small, large in ((STRANGER_LIMITS, MEMBER_LIMITS), (MEMBER_LIMITS, REPLY_LIMITS)):
        for attr in ("max_size", "max_str_len", "max_bin_len", "max_array_len", "max_map_len"):
            assert getattr(small, attr) <= getattr(large, attr), attr
        assert small.max_items <= large.max_items
    assert MEMBER_LIMITS.max_array_len < DEFAULT_MAX_MESSAGE_SIZE
    capped = MEMBER_LIMITS.capped(1000)
    assert (capped.max_size, capped.max_str_len, capped.max_bin_len) == (1000, 1000, 1000)
    assert capped.max_items == MEMBER_LIMITS.max_items


# -- trust --------------------------------------------------------------------------------


def test_trust_by_key() -> None:
    members = {b"member"}
    trust = FrameTrust.capped(members.__contains__, DEFAULT_MAX_MESSAGE_SIZE)
    assert trust.classify(b"member") is Trust.MEMBER
    assert trust.classify(b"stranger") is Trust.STRANGER
    assert trust.classify(None) is Trust.STRANGER  # CURVE without a key: never a member
    assert trust.limits(Trust.STRANGER) == STRANGER_LIMITS
    assert trust.limits(Trust.MEMBER) == MEMBER_LIMITS
    local = FrameTrust.capped(None, 4096)
    assert local.classify(None) is Trust.LOCAL
    assert local.limits(Trust.LOCAL).max_size == 4096
    assert local.limits(Trust.STRANGER).max_size == 4096


def test_refusals_are_counted_each_and_logged_once_a_second() -> None:
    tally = RefusalTally(interval=1.0)
    assert tally.refuse("stranger.too_large", 10.0) == 1  # the first at once
    assert tally.refuse("stranger.too_large", 10.2) is None
    assert tally.refuse("stranger.too_large", 10.5) is None
    assert tally.refuse("member.busy", 10.6) == 1  # another reason: its own pace
    assert tally.refuse("stranger.too_large", 11.1) == 3  # the two quiet ones and this
    assert tally.totals == {"stranger.too_large": 4, "member.busy": 1}
