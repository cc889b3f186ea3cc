"""`CommitNotices`: a leader's appends without entries wait a moment for the next append
to the same member, which replaces them (commit_notices.py's rules)."""

from __future__ import annotations

from actors.raft_node.commit_notices import CommitNotices
from actors.raft_node.types import Entry, Message, MessageType

MT = MessageType


def append(dst: int, commit: int, *, entries: int = 0, term: int = 2) -> Message:
    ents = tuple(Entry(10 + k, term, b"x") for k in range(1, entries + 1))
    return Message(
        type=MT.APPEND, src=1, dst=dst, term=term, index=10, log_term=term, entries=ents,
        commit=commit,
    )  # fmt: skip


def test_an_append_without_entries_waits_and_the_next_append_replaces_it() -> None:
    notices = CommitNotices(hold=0.002)
    notice = append(2, commit=10)
    assert notices.route([notice], now=1.0) == []
    assert notices.deadline == 1.002
    batch = append(2, commit=11, entries=3)
    assert notices.route([batch], now=1.001) == [batch]  # it says all the notice said
    assert len(notices) == 0 and notices.due(now=5.0) == []


def test_a_held_notice_goes_out_at_its_deadline_as_it_is() -> None:
    notices = CommitNotices(hold=0.002)
    notice = append(3, commit=10)
    notices.route([notice], now=1.0)
    assert notices.due(now=1.0015) == []
    assert notices.due(now=1.002) == [notice]
    assert notices.deadline is None


def test_a_newer_notice_replaces_the_held_one_under_its_first_deadline() -> None:
    notices = CommitNotices(hold=0.002)
    notices.route([append(2, commit=10)], now=1.0)
    newer = append(2, commit=12)
    assert notices.route([newer], now=1.0019) == []
    assert notices.deadline == 1.002  # a stream of notices never holds one forever
    assert notices.due(now=1.002) == [newer]


def test_other_members_and_other_messages_are_not_held_or_replaced() -> None:
    notices = CommitNotices(hold=0.002)
    notices.route([append(2, commit=10)], now=1.0)
    to_3 = append(3, commit=10, entries=1)
    heartbeat = Message(type=MT.HEARTBEAT, src=1, dst=2, term=2, commit=10)
    assert notices.route([to_3, heartbeat], now=1.0) == [to_3, heartbeat]
    assert len(notices) == 1


def test_an_append_of_another_term_does_not_replace_the_held_one() -> None:
    notices = CommitNotices(hold=0.002)
    old = append(2, commit=10, term=2)
    notices.route([old], now=1.0)
    later = append(2, commit=4, term=3)
    assert notices.route([later], now=1.001) == [old]  # sent as it is; the new one held
    assert notices.due(now=1.003) == [later]


def test_clear_drops_every_held_notice_and_no_hold_sends_at_once() -> None:
    notices = CommitNotices(hold=0.002)
    notices.route([append(2, commit=10), append(3, commit=10)], now=1.0)
    notices.clear()
    assert len(notices) == 0 and notices.due(now=9.0) == []
    immediate = CommitNotices(hold=0.0)
    notice = append(2, commit=10)
    assert immediate.route([notice], now=1.0) == [notice]
