"""The strangers' limits of a CURVE endpoint (transport/strangers.py): pure, time passed in."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from transport.stranger_limits import DEFAULT_STRANGER_LIMITS
from transport.strangers import (
    Admission,
    Label,
    Refusal,
    StrangerGate,
    StrangerLimits,
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
    share_rate=0.5,
    share_burst=2,
    reserve=2,
    frames=3,
    lifetime=30.0,
    source_unproven=3,
)
# LIMITS without a rate that could refuse first: the connections' limits alone
ROOMY = replace(LIMITS, source_rate=1e3, source_burst=1000, rate=1e3, burst=1000)


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
    return fd, gate.admit(source, KEY, member, now).refusal


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


def test_a_lighter_source_takes_the_place_of_the_oldest_connection_of_the_heaviest() -> None:
    gate, fds = StrangerGate(replace(ROOMY, source_connections=3, connections=4)), Fds()
    older, _ = connect(gate, fds, "10.0.0.2", 0.0)  # the oldest, but its source holds one
    oldest, _ = connect(gate, fds, "10.0.0.1", 1.0)
    connect(gate, fds, "10.0.0.1", 2.0)
    connect(gate, fds, "10.0.0.1", 2.0)
    gate.accepted(fds(), "10.0.0.3", "10.0.0.3:1", 3.0)
    admission = gate.admit("10.0.0.3", KEY, False, 3.0)
    assert admission.refusal is None and admission.evicted is gate.connection(oldest)
    assert admission.evicted is not None and admission.evicted.closing == "evicted"
    assert (gate.strangers(), gate.strangers("10.0.0.1"), gate.strangers("10.0.0.3")) == (4, 2, 1)
    assert gate.unproven("10.0.0.1") == 3  # it holds its descriptor until its disconnect
    assert gate.stranger_frame(oldest, KEY) is None  # its frames are not counted
    overdue = [c.fd for c in gate.overdue(100.0)]  # nor its lifetime watched
    assert older in overdue and oldest not in overdue
    gate.closed(oldest)
    assert gate.unproven("10.0.0.1") == 2 and gate.strangers() == 4


def test_a_source_holding_one_fewer_than_the_heaviest_is_refused_when_all_are_held() -> None:
    """A swap that would leave the newcomer's source holding more than the evicted one's
    is no fairer: refused, so sources that hold all they may never churn each other."""
    gate, fds = StrangerGate(replace(ROOMY, source_connections=3, connections=5)), Fds()
    for source in ("10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"):
        connect(gate, fds, source, 0.0)
    _, refusal = connect(gate, fds, "10.0.0.2", 0.0)
    assert refusal is not None and refusal.code == "connections"
    assert "no address holds two more than 10.0.0.2 (2)" in refusal.reason
    assert gate.strangers("10.0.0.1") == 3


def test_a_few_sources_holding_every_connection_cannot_keep_another_out() -> None:
    """QA's hole: four addresses each holding the 16 it may, 64 in all, kept every join
    out; each of them connects again at once when one of its connections closes. A fifth
    address now gets in, and keeps what it got while they keep trying."""
    gate, fds = StrangerGate(), Fds()
    attackers = [f"10.9.0.{i}" for i in range(1, 5)]
    now = 0.0
    for source in attackers:
        for _ in range(16):
            now += 0.01
            assert connect(gate, fds, source, now)[1] is None
    assert gate.strangers() == DEFAULT_STRANGER_LIMITS.connections
    joiners = []
    for _ in range(3):
        now += 0.01
        fd = fds()
        gate.accepted(fd, "10.0.0.5", f"10.0.0.5:{fd}", now)
        admission = gate.admit("10.0.0.5", KEY, False, now)
        assert admission.refusal is None and admission.evicted is not None
        assert admission.evicted.source in attackers
        joiners.append(fd)
        for _ in range(20):  # the evicted one's ZeroMQ and every other attacker's, again
            now += 0.01
            attacker = attackers[int(now * 100) % 4]
            fd, refusal = connect(gate, fds, attacker, now)
            assert refusal is not None and refusal.code in {"connections", "source_connections"}
            gate.closed(fd)
        gate.closed(admission.evicted.fd)
    assert all(label(gate, fd) is Label.STRANGER for fd in joiners)
    assert gate.strangers() == 64 and gate.strangers("10.0.0.5") == 3


def test_a_handshake_taken_for_a_connection_closed_at_its_accept_is_not_judged() -> None:
    """ZeroMQ may send the ZAP request of a connection the shell shut at its accept before
    its disconnect: judging it would count that connection's refusal twice, and take a
    token for a connection that is gone."""
    gate = StrangerGate(replace(LIMITS, source_connections=1))
    gate.accepted(5, "10.0.0.1", "10.0.0.1:1", 0.0)
    assert gate.admit("10.0.0.1", KEY, False, 0.0).refusal is None
    shut = gate.accepted(6, "10.0.0.1", "10.0.0.1:2", 0.0)
    gate.closing(shut, "source_unproven")
    assert gate.admit("10.0.0.1", KEY, False, 0.0) == Admission()  # not source_connections
    assert shut.label is Label.STRANGER and gate.strangers() == 1
    assert gate.unproven("10.0.0.1") == 2
    gate.closed(6)
    assert gate.unproven("10.0.0.1") == 1 and gate._rates.sources() == 1


def test_a_few_sources_spending_the_rate_of_all_cannot_keep_another_out() -> None:
    """QA's hole, in rates: four addresses each opening connections as fast as its own
    bucket allows (100 a second: 400, all sources' rate) kept every other address out.
    The last tokens are now kept for addresses within their share, and all addresses
    together still get no more than all sources' rate."""
    limits = DEFAULT_STRANGER_LIMITS
    gate, fds = StrangerGate(limits), Fds()
    attackers = [f"10.9.0.{i}" for i in range(1, 5)]
    admitted = joined = 0
    step = 1 / 1000  # each attacker tries every millisecond: ten times its rate
    for tick in range(10_000):  # 10 s
        now = tick * step
        for source in attackers:
            fd, refusal = connect(gate, fds, source, now)
            gate.closed(fd)  # each closes at once: only the rates count
            admitted += refusal is None
        if tick % 250 == 0:  # a joiner from a fifth address, four times a second
            fd, refusal = connect(gate, fds, "10.0.0.5", now)
            gate.closed(fd)
            assert refusal is None, refusal
            joined += 1
    assert admitted + joined <= limits.burst + limits.rate * 10
    assert admitted > limits.rate * 10 - limits.reserve  # the flood got the rest


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
    assert gate.admit("10.0.0.1", KEY, False, 0.0).refusal is None
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
    assert gate._rates.sources() == 5
    refill = max(LIMITS.source_burst / LIMITS.source_rate, LIMITS.share_burst / LIMITS.share_rate)
    connect(gate, fds, "10.0.3.1", refill + 1.0)
    assert gate._rates.sources() == 1


def test_a_source_holds_at_most_its_unproven_connections_at_their_accept() -> None:
    """Handshakes that never end (raw connections), refused ones and strangers' count;
    members' connections that carried a frame do not, nor does another source."""
    gate, fds = StrangerGate(LIMITS), Fds()

    def accept(source: str) -> tuple[int, Refusal | None]:
        fd = fds()
        connection = gate.accepted(fd, source, f"{source}:{fd}", 0.0)
        return fd, gate.crowded(connection, None).refusal

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
    assert gate.crowded(low, 1024) == Admission()
    high = gate.accepted(768, "10.0.0.2", "10.0.0.2:1", 0.0)
    refusal = gate.crowded(high, 1024).refusal
    assert refusal is not None and refusal.code == "descriptors"
    assert "descriptor 768 of the process's 1024" in refusal.reason
    assert "no address holds two more than 10.0.0.2 (0)" in refusal.reason
    assert gate.crowded(high, None) == Admission()  # no limit


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
        {"unproven_share": 0.0},
        {"unproven_share": 1.5},
    ],
)
def test_limits_must_be_positive(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="stranger limits need"):
        StrangerLimits(**bad)  # type: ignore[arg-type]


def recount(gate: StrangerGate) -> None:
    """The gate's counts are those of its open connections' labels."""
    held: dict[str, set[int]] = {}
    open_unproven: dict[str, set[int]] = {}
    unproven: Counter[str] = Counter()
    lent = 0
    for fd, connection in gate._open.items():
        open_ = connection.closing is None
        if connection.label is Label.STRANGER and open_:
            held.setdefault(connection.source, set()).add(fd)
        if connection.label is not Label.MEMBER or not connection.proven:
            unproven[connection.source] += 1
            if open_:
                open_unproven.setdefault(connection.source, set()).add(fd)
                lent += connection.lent
    for counts, expected in ((gate._held, held), (gate._open_unproven, open_unproven)):
        assert {s: {c.fd for c in counts.items(s)} for s in counts.sources()} == expected
        assert counts.count() == sum(map(len, expected.values()))
        assert counts.most() == max(map(len, expected.values()), default=0)
        assert all(len(expected[s]) == counts.most() for s in counts.heaviest())
    assert gate._unproven == unproven
    assert gate._lent == lent


@pytest.mark.parametrize("seed", range(20))
def test_the_counts_come_back_to_nothing_once_every_connection_closed(seed: int) -> None:
    """Accepts, handshakes (members', strangers', refused, some in another's place),
    frames, lifetimes, joins, closes by the shell and disconnects in a random order: the
    counts always match the labels, and none is left behind (a leak would shut a source
    out)."""
    rng = random.Random(seed)
    # with a limit of 200: a cap of 13 (of 136 descriptors below the reserve), 136-139
    # reserved, 8 of them lent at most
    gate = StrangerGate(replace(ROOMY, source_unproven=1000, unproven_share=0.1))
    sources = ["10.0.0.1", "10.0.0.2", "2001:db8::/64", "10.0.0.4"]
    fds = list(range(100, 140))
    now = 0.0
    evicted = lent = 0
    for _ in range(2000):
        now += rng.random()
        fd = rng.choice(fds)
        connection = gate.connection(fd)
        step = rng.randrange(8)
        if step == 0 or connection is None:
            accepted = gate.accepted(fd, rng.choice(sources), "peer", now)
            word = gate.crowded(accepted, rng.choice([None, 200]))
            if word.evicted is not None:
                assert word.evicted.closing == "evicted" and word.evicted is not accepted
                evicted += 1
                lent += accepted.lent
            if word.refusal is not None or rng.random() < 0.1:
                gate.closing(accepted, "source_unproven")
        elif step == 1:
            before = gate.strangers()
            admission = gate.admit(connection.source, KEY, rng.random() < 0.5, now)
            # frames may put a connection's label right past the cap; a handshake never
            assert gate.strangers() <= max(before, LIMITS.connections)
            if admission.evicted is not None:
                assert admission.evicted.closing == "evicted"
                evicted += 1
        elif step == 2:
            gate.refused(connection.source, KEY)
        elif step == 3:
            gate.member_frame(fd, b"id%d" % fd)
        elif step == 4:
            if gate.stranger_frame(fd, KEY) is not None:
                gate.closing(connection, "frames")
        elif step == 5:
            for due in gate.overdue(now):
                if due.proven and rng.random() < 0.5:  # as the shell: its frames' key joined
                    gate.joined(due)
                else:
                    gate.closing(due, "lifetime")
        else:
            gate.closed(fd)
        recount(gate)
    assert evicted > 0 and lent > 0
    for fd in fds:
        gate.closed(fd)
    assert gate.strangers() == 0
    assert all(gate.unproven(source) == 0 for source in sources)
    assert gate._unproven == {} and gate._waiting == {} and gate._lent == 0
    for counts in (gate._held, gate._open_unproven):
        assert counts.count() == counts.most() == 0 and list(counts.sources()) == []
