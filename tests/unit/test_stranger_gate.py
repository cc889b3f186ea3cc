"""The strangers' limits of a CURVE endpoint (transport/strangers.py): pure, time passed in."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from transport.strangers import (
    Label,
    Refusal,
    StrangerGate,
    StrangerLimits,
    TokenBucket,
    descriptor_reserve,
    source_of,
)

KEY = b"k" * 40
LIMITS = StrangerLimits(
    source_connections=2,
    connections=3,
    source_rate=1.0,
    source_burst=4,
    rate=10.0,
    burst=6,
    frames=3,
    lifetime=30.0,
    source_unproven=3,
)


class Fds:
    """Descriptors as the kernel hands them out (tests need them distinct only)."""

    def __init__(self) -> None:
        self.next = 10

    def __call__(self) -> int:
        self.next += 1
        return self.next


def connect(
    gate: StrangerGate, fds: Fds, source: str, now: float, member: bool = False
) -> tuple[int, Refusal | None]:
    """What ZeroMQ does: accept (the monitor's event), then the handshake's ZAP request."""
    fd = fds()
    gate.accepted(fd, source, f"{source}:{fd}", now)
    return fd, gate.admit(source, KEY, member, now)


def label(gate: StrangerGate, fd: int) -> Label:
    connection = gate.connection(fd)
    assert connection is not None
    return connection.label


def test_a_source_is_an_ipv4_address_or_an_ipv6_64() -> None:
    assert source_of("10.0.0.7") == "10.0.0.7"
    assert source_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert source_of("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert source_of("::ffff:10.0.0.7") == "10.0.0.7"  # a mapped IPv4 peer is that peer
    assert source_of("fe80::1%eth0") == "fe80::/64"
    assert source_of("not an address") == "not an address"


def test_a_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket(2, 4.0, now=0.0)
    bucket.take()
    bucket.take()
    assert bucket.refill(0.0) == 0.0
    assert bucket.refill(0.125) == 0.5
    assert bucket.refill(100.0) == 2.0


def test_members_are_never_counted_nor_refused() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    assert [connect(gate, fds, "10.0.0.1", 0.0, member=True)[1] for _ in range(50)] == [None] * 50
    assert gate.strangers() == 0
    assert connect(gate, fds, "10.0.0.1", 0.0)[1] is None  # strangers keep their allowance


def test_a_source_holds_at_most_its_connections_and_gets_one_back_when_one_closes() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    first, _ = connect(gate, fds, "10.0.0.1", 0.0)
    connect(gate, fds, "10.0.0.1", 0.0)
    third, refusal = connect(gate, fds, "10.0.0.1", 0.0)
    assert refusal is not None and refusal.code == "source_connections"
    assert "2 connections without a certificate are open from 10.0.0.1" in refusal.reason
    assert label(gate, third) is Label.REFUSED
    assert connect(gate, fds, "10.0.0.2", 0.0)[1] is None  # another source
    gate.closed(first)
    assert connect(gate, fds, "10.0.0.1", 0.0)[1] is None


def test_all_sources_together_hold_at_most_connections() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    for source in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert connect(gate, fds, source, 0.0)[1] is None
    _, refusal = connect(gate, fds, "10.0.0.4", 0.0)
    assert refusal is not None and refusal.code == "connections"
    assert gate.strangers() == 3


def test_a_source_gets_its_burst_then_its_rate() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    admitted = 0
    for _ in range(10):  # each closes at once: only the rate can refuse
        fd, refusal = connect(gate, fds, "10.0.0.1", 0.0)
        gate.closed(fd)
        admitted += refusal is None
    assert admitted == LIMITS.source_burst
    fd, refusal = connect(gate, fds, "10.0.0.1", 0.5)
    assert refusal is not None and refusal.code == "source_rate"
    gate.closed(fd)
    assert connect(gate, fds, "10.0.0.1", 1.0)[1] is None  # a token a second


def test_all_sources_share_a_bucket_and_a_refusal_takes_no_token() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    codes = []
    for i in range(12):
        fd, refusal = connect(gate, fds, f"10.0.1.{i}", 0.0)
        gate.closed(fd)
        codes.append(refusal.code if refusal is not None else None)
    assert codes == [None] * LIMITS.burst + ["rate"] * (12 - LIMITS.burst)
    # the refused sources' own buckets were not touched: one is admitted once the shared
    # bucket has a token again
    assert connect(gate, fds, "10.0.1.11", 0.1)[1] is None


def test_a_handshake_is_taken_as_its_sources_oldest_waiting_connection() -> None:
    gate = StrangerGate(LIMITS)
    gate.accepted(5, "10.0.0.1", "10.0.0.1:1", 0.0)
    gate.accepted(6, "10.0.0.1", "10.0.0.1:2", 0.0)
    gate.admit("10.0.0.1", KEY, False, 0.0)
    assert (label(gate, 5), label(gate, 6)) == (Label.STRANGER, Label.HANDSHAKE)
    gate.refused("10.0.0.1", b"r" * 40)  # the policy refused the next one
    assert label(gate, 6) is Label.REFUSED
    assert gate.strangers("10.0.0.1") == 1


def test_frames_put_right_the_labels_of_handshakes_that_ended_out_of_order() -> None:
    """A member's handshake and a stranger's from one address: the member's ZAP request
    came first, so the stranger's connection got the member's label. Their first frames
    say which is which, and the counts follow."""
    gate = StrangerGate(LIMITS)
    gate.accepted(5, "10.0.0.1", "10.0.0.1:1", 0.0)  # the stranger's
    gate.accepted(6, "10.0.0.1", "10.0.0.1:2", 0.0)  # the member's
    gate.admit("10.0.0.1", b"m" * 40, True, 0.0)
    gate.admit("10.0.0.1", KEY, False, 0.0)
    assert (label(gate, 5), label(gate, 6)) == (Label.MEMBER, Label.STRANGER)
    gate.member_frame(6, b"id-6")
    gate.stranger_frame(5, KEY)
    assert (label(gate, 5), label(gate, 6)) == (Label.STRANGER, Label.MEMBER)
    assert gate.strangers("10.0.0.1") == 1
    member = gate.connection(6)
    assert member is not None and member.proven and member.identity == b"id-6"


def test_a_handshake_whose_accept_was_lost_is_judged_but_not_held() -> None:
    gate = StrangerGate(LIMITS)
    assert gate.admit("10.0.0.1", KEY, False, 0.0) is None
    assert gate.strangers() == 0


def test_a_reused_descriptor_ends_the_connection_it_held() -> None:
    """The disconnect event was lost (the monitor's queue overflowed): the descriptor's next
    accept ends its old record, so no slot is held for ever."""
    gate = StrangerGate(LIMITS)
    gate.accepted(5, "10.0.0.1", "10.0.0.1:1", 0.0)
    gate.admit("10.0.0.1", KEY, False, 0.0)
    gate.accepted(5, "10.0.0.2", "10.0.0.2:1", 0.0)
    now = gate.connection(5)
    assert gate.strangers("10.0.0.1") == 0 and now is not None and now.source == "10.0.0.2"


def test_a_connection_closed_during_its_handshake_leaves_no_trace() -> None:
    gate = StrangerGate(LIMITS)
    gate.accepted(5, "10.0.0.1", "10.0.0.1:1", 0.0)
    closed = gate.closed(5)
    assert closed is not None and closed.label is Label.HANDSHAKE
    assert gate.connection(5) is None
    gate.accepted(6, "10.0.0.1", "10.0.0.1:2", 0.0)
    gate.admit("10.0.0.1", KEY, False, 0.0)  # the new one's, not the closed one's
    assert label(gate, 6) is Label.STRANGER


def test_a_strangers_connection_is_closed_once_past_its_frames() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    fd, _ = connect(gate, fds, "10.0.0.1", 0.0)
    assert [gate.stranger_frame(fd, KEY) for _ in range(LIMITS.frames)] == [None] * LIMITS.frames
    over = gate.stranger_frame(fd, KEY)
    assert over is not None and over.fd == fd
    assert gate.stranger_frame(fd, KEY) is None  # once: the frames queued behind it
    assert gate.stranger_frame(999, KEY) is None  # a descriptor not known


def test_a_connection_without_a_members_frame_is_due_at_the_end_of_its_lifetime() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    stranger, _ = connect(gate, fds, "10.0.0.1", 0.0)
    gate.stranger_frame(stranger, KEY)
    silent, _ = connect(gate, fds, "10.0.0.2", 0.0)  # admitted, never sends
    member, _ = connect(gate, fds, "10.0.0.3", 0.0, member=True)
    gate.member_frame(member, b"id")
    young, _ = connect(gate, fds, "10.0.0.4", 10.0)
    assert gate.next_due() == 30.0
    assert gate.overdue(29.9) == []
    assert [c.fd for c in gate.overdue(30.0)] == [stranger, silent]
    assert gate.next_due() == 40.0
    gate.closed(young)
    assert gate.next_due() is None and gate.overdue(100.0) == []
    assert gate.connection(member) is not None


def test_a_stranger_that_joined_is_a_members_connection_from_then_on() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    fd, _ = connect(gate, fds, "10.0.0.1", 0.0)
    gate.stranger_frame(fd, KEY)
    (due,) = gate.overdue(30.0)
    gate.joined(due)
    assert due.label is Label.MEMBER and gate.strangers() == 0
    gate.closed(fd)
    assert gate.strangers() == 0


def test_buckets_of_sources_that_refilled_are_forgotten() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    for i in range(5):
        fd, _ = connect(gate, fds, f"10.0.2.{i}", 0.0)
        gate.closed(fd)
    assert len(gate._buckets) == 5
    refill = LIMITS.source_burst / LIMITS.source_rate
    connect(gate, fds, "10.0.3.1", refill + 1.0)
    assert list(gate._buckets) == ["10.0.3.1"]


def test_a_source_holds_at_most_its_unproven_connections_at_their_accept() -> None:
    """Handshakes that never end (raw connections), refused ones and strangers' count;
    members' connections that carried a frame do not, nor does another source."""
    gate, fds = StrangerGate(LIMITS), Fds()

    def accept(source: str) -> tuple[int, Refusal | None]:
        fd = fds()
        connection = gate.accepted(fd, source, f"{source}:{fd}", 0.0)
        return fd, gate.crowded(connection, None)

    silent, _ = accept("10.0.0.1")  # never greets
    refused = connect(gate, fds, "10.0.0.1", 0.0)[0]  # a stranger's, then one refused
    gate.refused("10.0.0.1", KEY)
    assert gate.unproven("10.0.0.1") == 2
    for _ in range(2):  # members, proven by their frames
        fd, refusal = accept("10.0.0.1")
        assert refusal is None
        gate.admit("10.0.0.1", KEY, True, 0.0)
        gate.member_frame(fd, b"id%d" % fd)
    third, refusal = accept("10.0.0.1")
    assert refusal is None and gate.unproven("10.0.0.1") == 3
    fourth, refusal = accept("10.0.0.1")
    assert refusal is not None and refusal.code == "source_unproven"
    assert "3 connections" in refusal.reason and "at most 3" in refusal.reason
    assert accept("10.0.0.2")[1] is None  # another source has its own
    gate.closed(fourth)
    gate.closed(silent)
    assert accept("10.0.0.1")[1] is None  # one closed: room for one
    gate.closed(refused)
    gate.closed(third)
    assert gate.unproven("10.0.0.1") == 1


def test_a_member_removed_while_connected_counts_as_unproven_from_its_next_frame() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    fd, _ = connect(gate, fds, "10.0.0.1", 0.0, member=True)
    gate.member_frame(fd, b"id")
    assert gate.unproven("10.0.0.1") == 0
    gate.stranger_frame(fd, KEY)
    assert gate.unproven("10.0.0.1") == 1
    gate.closed(fd)
    assert gate.unproven("10.0.0.1") == 0


def test_a_connection_on_a_descriptor_in_the_processs_reserve_is_refused() -> None:
    assert descriptor_reserve(1024) == 256
    assert descriptor_reserve(256) == 64
    assert descriptor_reserve(1_048_576) == 1024
    gate = StrangerGate(LIMITS)
    low = gate.accepted(767, "10.0.0.1", "10.0.0.1:1", 0.0)
    assert gate.crowded(low, 1024) is None
    high = gate.accepted(768, "10.0.0.2", "10.0.0.2:1", 0.0)
    refusal = gate.crowded(high, 1024)
    assert refusal is not None and refusal.code == "descriptors"
    assert "descriptor 768 of the process's 1024" in refusal.reason
    assert gate.crowded(high, None) is None  # no limit


@pytest.mark.parametrize(
    "bad",
    [
        {"source_connections": 0},
        {"connections": 0},
        {"frames": 0},
        {"rate": 0.0},
        {"source_rate": -1.0},
        {"lifetime": 0.0},
        {"source_unproven": 0},
    ],
)
def test_limits_must_be_positive(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="stranger limits"):
        StrangerLimits(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(20))
def test_the_counts_come_back_to_nothing_once_every_connection_closed(seed: int) -> None:
    """Accepts, handshakes (members', strangers', refused), frames, lifetimes, joins and
    closes in a random order: no count is left behind (a leak would shut a source out)."""
    rng = random.Random(seed)
    gate = StrangerGate(replace(LIMITS, source_unproven=1000))
    sources = ["10.0.0.1", "10.0.0.2", "2001:db8::/64"]
    fds = list(range(100, 140))
    now = 0.0
    for _ in range(2000):
        now += rng.random()
        fd = rng.choice(fds)
        connection = gate.connection(fd)
        step = rng.randrange(7)
        if step == 0 or connection is None:
            accepted = gate.accepted(fd, rng.choice(sources), "peer", now)
            gate.crowded(accepted, None)
        elif step == 1:
            gate.admit(connection.source, KEY, rng.random() < 0.5, now)
        elif step == 2:
            gate.refused(connection.source, KEY)
        elif step == 3:
            gate.member_frame(fd, b"id%d" % fd)
        elif step == 4:
            gate.stranger_frame(fd, KEY)
        elif step == 5:
            for due in gate.overdue(now):
                if due.proven and rng.random() < 0.5:  # as the shell: its frames' key joined
                    gate.joined(due)
        else:
            gate.closed(fd)
    for fd in fds:
        gate.closed(fd)
    assert gate.strangers() == 0
    assert all(gate.unproven(source) == 0 for source in sources)
    assert gate._unproven == {} and gate._strangers == {} and gate._waiting == {}
