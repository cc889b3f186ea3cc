"""Whose Raft messages a frame may carry (actors/raft_node/senders.py)."""

from __future__ import annotations

from actors.raft_node.senders import frame_refusal, member_key_refusal, stray_message
from actors.raft_node.types import Message, MessageType

KEY_2 = b"2" * 40
KEY_3 = b"3" * 40


def heartbeat(src: int, dst: int = 1) -> Message:
    return Message(type=MessageType.HEARTBEAT, src=src, dst=dst, term=1)


def test_a_member_sending_with_its_own_key_is_accepted() -> None:
    assert frame_refusal(2, 1, KEY_2, KEY_2) is None
    assert stray_message(2, [heartbeat(2), heartbeat(2)]) is None


def test_a_frame_claiming_another_members_id_is_refused() -> None:
    reason = frame_refusal(2, 1, KEY_3, KEY_2)
    assert reason is not None and "another key" in reason


def test_a_frame_claiming_an_unknown_id_is_refused() -> None:
    reason = frame_refusal(9, 1, KEY_3, None)
    assert reason is not None and "no member" in reason


def test_a_frame_claiming_the_receivers_own_id_is_refused() -> None:
    reason = frame_refusal(1, 1, KEY_2, KEY_2)
    assert reason is not None and "own Raft id" in reason


def test_a_message_inside_from_another_member_is_refused() -> None:
    reason = stray_message(2, [heartbeat(2), heartbeat(3)])
    assert reason is not None and "3" in reason


def test_a_member_is_not_re_announced_under_another_key() -> None:
    assert member_key_refusal(2, KEY_2, KEY_2) is None
    assert member_key_refusal(2, None, KEY_3) is None  # not in the table yet
    reason = member_key_refusal(2, KEY_2, KEY_3)
    assert reason is not None and "another member" in reason
