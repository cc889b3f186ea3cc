"""The strangers' limits of a CURVE endpoint (transport/strangers.py): pure, time passed in."""

from __future__ import annotations

import pytest

from transport.strangers import (
    Refusal,
    State,
    StrangerGate,
    StrangerLimits,
    TokenBucket,
    Welcome,
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
) -> tuple[int, Refusal | Welcome]:
    """What ZeroMQ does: accept (the monitor's event), then the handshake's ZAP request."""
    fd = fds()
    gate.accepted(fd, source, f"{source}:{fd}")
    return fd, gate.admit(source, KEY, member, now)


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
    verdicts = [connect(gate, fds, "10.0.0.1", 0.0, member=True)[1] for _ in range(50)]
    assert all(isinstance(v, Welcome) for v in verdicts)
    assert gate.strangers() == 0
    # and strangers still have their whole allowance
    assert isinstance(connect(gate, fds, "10.0.0.1", 0.0)[1], Welcome)


def test_a_source_holds_at_most_its_connections_and_gets_one_back_when_one_closes() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    first, _ = connect(gate, fds, "10.0.0.1", 0.0)
    connect(gate, fds, "10.0.0.1", 0.0)
    _, third = connect(gate, fds, "10.0.0.1", 0.0)
    assert isinstance(third, Refusal) and third.code == "source_connections"
    assert "2 connections without a certificate are open from 10.0.0.1" in third.reason
    assert isinstance(connect(gate, fds, "10.0.0.2", 0.0)[1], Welcome)  # another source
    gate.closed(first)
    assert isinstance(connect(gate, fds, "10.0.0.1", 0.0)[1], Welcome)


def test_all_sources_together_hold_at_most_connections() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    for source in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert isinstance(connect(gate, fds, source, 0.0)[1], Welcome)
    _, refused = connect(gate, fds, "10.0.0.4", 0.0)
    assert isinstance(refused, Refusal) and refused.code == "connections"
    assert gate.strangers() == 3


def test_a_source_gets_its_burst_then_its_rate() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    admitted = 0
    for _ in range(10):  # each closes at once: only the rate can refuse
        fd, verdict = connect(gate, fds, "10.0.0.1", 0.0)
        gate.closed(fd)
        admitted += isinstance(verdict, Welcome)
    assert admitted == LIMITS.source_burst
    fd, refused = connect(gate, fds, "10.0.0.1", 0.5)
    assert isinstance(refused, Refusal) and refused.code == "source_rate"
    gate.closed(fd)
    assert isinstance(connect(gate, fds, "10.0.0.1", 1.0)[1], Welcome)  # a token a second


def test_all_sources_share_a_bucket_and_a_refusal_takes_no_token() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    admitted = 0
    for i in range(12):
        fd, verdict = connect(gate, fds, f"10.0.1.{i}", 0.0)
        gate.closed(fd)
        admitted += isinstance(verdict, Welcome)
        if isinstance(verdict, Refusal):
            assert verdict.code == "rate"
    assert admitted == LIMITS.burst
    # the refused sources' own buckets were not touched: full once the shared one refills
    fd, verdict = connect(gate, fds, "10.0.1.11", 0.1)
    assert isinstance(verdict, Welcome)


def test_a_handshake_is_taken_as_its_sources_oldest_waiting_connection() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    a, b = fds(), fds()
    gate.accepted(a, "10.0.0.1", "10.0.0.1:1")
    gate.accepted(b, "10.0.0.1", "10.0.0.1:2")
    gate.admit("10.0.0.1", KEY, False, 0.0)
    first, second = gate.connection(a), gate.connection(b)
    assert first is not None and first.state is State.STRANGER and first.key == KEY
    assert second is not None and second.state is State.HANDSHAKE
    gate.refused("10.0.0.1", b"r" * 40)  # the policy refused the next one
    assert gate.connection(b) is second and second.key == b"r" * 40
    assert second.state.value == "refused"
    assert gate.strangers("10.0.0.1") == 1


def test_a_handshake_whose_accept_was_lost_is_judged_but_not_held() -> None:
    gate = StrangerGate(LIMITS)
    verdict = gate.admit("10.0.0.1", KEY, False, 0.0)
    assert isinstance(verdict, Welcome) and verdict.connection is None
    assert gate.strangers() == 0


def test_a_reused_descriptor_ends_the_connection_it_held() -> None:
    """The disconnect event was lost (the monitor's queue overflowed): the descriptor's next
    accept ends its old record, so no slot is held for ever."""
    gate = StrangerGate(LIMITS)
    gate.accepted(5, "10.0.0.1", "10.0.0.1:1")
    gate.admit("10.0.0.1", KEY, False, 0.0)
    gate.accepted(5, "10.0.0.2", "10.0.0.2:1")
    assert gate.strangers("10.0.0.1") == 0 and gate.open_connections() == 1


def test_a_connection_closed_during_its_handshake_leaves_no_trace() -> None:
    gate = StrangerGate(LIMITS)
    gate.accepted(5, "10.0.0.1", "10.0.0.1:1")
    closed = gate.closed(5)
    assert closed is not None and closed.state is State.HANDSHAKE
    assert gate.open_connections() == 0
    verdict = gate.admit("10.0.0.1", KEY, False, 0.0)  # nothing waits: not held
    assert isinstance(verdict, Welcome) and verdict.connection is None


def test_a_strangers_connection_is_closed_once_past_its_frames() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    fd, _ = connect(gate, fds, "10.0.0.1", 0.0)
    assert [gate.frame(fd) for _ in range(LIMITS.frames)] == [None] * LIMITS.frames
    over = gate.frame(fd)
    assert over is not None and over.fd == fd
    assert gate.frame(fd) is None  # once: the frames queued behind it change nothing
    assert gate.frame(999) is None  # a descriptor not known


def test_a_strangers_connection_is_due_once_past_its_lifetime() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    old, _ = connect(gate, fds, "10.0.0.1", 0.0)
    young, _ = connect(gate, fds, "10.0.0.2", 10.0)
    member, _ = connect(gate, fds, "10.0.0.3", 0.0, member=True)
    assert gate.next_due() == 30.0
    assert gate.overdue(29.9) == []
    assert [c.fd for c in gate.overdue(30.0)] == [old]
    assert gate.next_due() == 40.0
    gate.closed(young)
    assert gate.next_due() is None and gate.overdue(100.0) == []
    assert gate.connection(member) is not None


def test_a_stranger_that_joined_is_a_members_connection_from_then_on() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    fd, _ = connect(gate, fds, "10.0.0.1", 0.0)
    (due,) = gate.overdue(30.0)
    gate.became_member(due)
    assert due.state is State.MEMBER and gate.strangers() == 0
    gate.closed(fd)
    assert gate.strangers() == 0


def test_buckets_of_sources_that_refilled_are_forgotten() -> None:
    gate, fds = StrangerGate(LIMITS), Fds()
    for i in range(5):
        fd, _ = connect(gate, fds, f"10.0.2.{i}", 0.0)
        gate.closed(fd)
    assert len(gate._buckets) == 5
    refill = LIMITS.source_burst / LIMITS.source_rate
    fd, _ = connect(gate, fds, "10.0.3.1", refill + 1.0)
    assert list(gate._buckets) == ["10.0.3.1"]


@pytest.mark.parametrize(
    "bad",
    [
        {"source_connections": 0},
        {"connections": 0},
        {"frames": 0},
        {"rate": 0.0},
        {"source_rate": -1.0},
        {"lifetime": 0.0},
    ],
)
def test_limits_must_be_positive(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="stranger limits"):
        StrangerLimits(**bad)  # type: ignore[arg-type]
