"""The descriptors connections that showed no member's key may take, shared fairly between
addresses (transport/strangers.py, `StrangerGate.crowded`): pure, time passed in, and the
process's descriptors handed out as the kernel does."""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import replace

from transport.stranger_limits import DEFAULT_STRANGER_LIMITS
from transport.strangers import (
    Admission,
    Connection,
    Label,
    StrangerGate,
    descriptor_reserve,
    reserve_lent,
    unproven_cap,
)

HANDSHAKE_TIMEOUT = 5.0  # transport/connections.py's
LIMIT = 256  # ulimit -n: 64 reserved, 192 below
# a cap of 6 connections that showed no member's key (a thirty-second of the 192)
SMALL = replace(DEFAULT_STRANGER_LIMITS, unproven_share=1 / 32)


class Process:
    """A process's descriptors as the kernel hands them out: the lowest free one."""

    def __init__(self, limit: int, in_use: int) -> None:
        self.limit = limit
        self._free = list(range(in_use, limit))  # sorted: a heap already
        self.peak = in_use

    def open(self) -> int:
        assert self._free, "out of descriptors: ZeroMQ would abort the process"
        fd = heapq.heappop(self._free)
        self.peak = max(self.peak, self.in_use())
        return fd

    def close(self, fd: int) -> None:
        heapq.heappush(self._free, fd)

    def in_use(self) -> int:
        return self.limit - len(self._free)


class Endpoint:
    """The gate as its shell drives it: each accept judged, the closed closed at once."""

    def __init__(self, gate: StrangerGate, process: Process) -> None:
        self.gate = gate
        self.process = process

    def connect(self, source: str, now: float = 0.0) -> tuple[Connection, Admission]:
        fd = self.process.open()
        connection = self.gate.accepted(fd, source, f"{source}:{fd}", now)
        word = self.gate.crowded(connection, self.process.limit)
        if word.evicted is not None:
            self.close(word.evicted)
        if word.refusal is not None:
            self.close(connection)
        return connection, word

    def accept(self, source: str, now: float = 0.0) -> Admission:
        return self.connect(source, now)[1]

    def close(self, connection: Connection) -> None:
        self.gate.closed(connection.fd)
        self.process.close(connection.fd)


def test_past_the_endpoints_cap_a_lighter_source_takes_the_place_of_the_heaviests_oldest() -> None:
    assert unproven_cap(LIMIT, SMALL.unproven_share) == 6
    endpoint = Endpoint(StrangerGate(SMALL), Process(LIMIT, 20))
    gate = endpoint.gate
    flood = [endpoint.accept("10.0.0.1", now) for now in (1.0, 2.0, 3.0, 4.0)]
    assert flood == [Admission()] * 4
    oldest = gate.connection(20)
    assert oldest is not None
    gate.admit("10.0.0.1", b"m" * 40, True, 1.0)  # its handshake a member's: kept if others
    endpoint.accept("10.0.0.2")
    endpoint.accept("10.0.0.2")
    word = endpoint.accept("10.0.0.2")  # the seventh, from an address holding two fewer
    assert word.refusal is None and word.evicted is not None
    assert word.evicted.source == "10.0.0.1" and word.evicted.fd == 21  # not the member's
    assert word.evicted.closing == "evicted"
    assert (gate.unproven("10.0.0.1"), gate.unproven("10.0.0.2")) == (3, 3)
    for source in ("10.0.0.1", "10.0.0.2"):  # each holds as many: no churn between them
        refusal = endpoint.accept(source).refusal
        assert refusal is not None and refusal.code == "unproven"
        assert "6 connections that showed no member's key are open (at most 6" in refusal.reason
        assert f"no address holds two more than {source} (3)" in refusal.reason
    word = endpoint.accept("10.0.0.3")
    assert word.evicted is not None and word.evicted.source in {"10.0.0.1", "10.0.0.2"}
    # a member's connection counts while its handshake is in flight, not once it carried
    # a frame: then there is room for one more
    member, word = endpoint.connect("10.0.0.5")
    assert word.evicted is not None
    gate.admit("10.0.0.5", b"m" * 40, True, 0.0)
    gate.member_frame(member.fd, b"id")
    assert endpoint.accept("10.0.0.4") == Admission()
    assert gate.unproven("10.0.0.1") + gate.unproven("10.0.0.2") == 4


def test_a_newcomer_on_a_reserved_descriptor_is_lent_it_in_a_heavier_sources_place() -> None:
    """The process's files and members hold all but a few descriptors below its reserve:
    a newcomer from a lighter address takes the place of the heaviest's oldest, keeping
    the reserved descriptor it got; a few are lent so, never the reserve."""
    reserve = descriptor_reserve(LIMIT)
    lent = reserve_lent(LIMIT)
    assert (reserve, lent) == (64, 8)
    process = Process(LIMIT, LIMIT - reserve - 5)
    endpoint = Endpoint(StrangerGate(), process)
    gate = endpoint.gate
    for source in ("10.0.0.1",) * 3 + ("10.0.0.2",) * 2:
        assert endpoint.accept(source) == Admission()
    refusal = endpoint.accept("10.0.0.2").refusal  # past the reserve's start, as heavy
    assert refusal is not None and refusal.code == "descriptors"
    assert "descriptor 192 of the process's 256" in refusal.reason
    newcomers = []
    for i in range(lent):
        word = endpoint.accept(f"10.0.1.{i}")
        assert word.refusal is None and word.evicted is not None
        assert word.evicted.source in {"10.0.0.1", "10.0.0.2"}
        newcomers.append(gate.connection(LIMIT - reserve + i))
        # the heavy address connects again: below the reserve (the evicted one's), once
        assert endpoint.accept(word.evicted.source).refusal is None
    assert all(c is not None and c.lent for c in newcomers)
    refusal = endpoint.accept("10.0.2.1").refusal
    assert refusal is not None and refusal.code == "descriptors"
    assert f"{lent} are lent" in refusal.reason
    assert process.in_use() == LIMIT - reserve + lent
    # one lent shows a member's key: members may use the reserve, it is no longer lent
    first = newcomers[0]
    assert first is not None
    gate.admit(first.source, b"m" * 40, True, 0.0)
    gate.member_frame(first.fd, b"id")
    assert first.label is Label.MEMBER and gate._lent == lent - 1
    assert endpoint.accept("10.0.2.1").evicted is not None


def test_twelve_addresses_flooding_raw_connections_keep_out_neither_joins_nor_members() -> None:
    """The hole: with ulimit -n 4096, 12 addresses each holding the 256 connections it may
    before a handshake took every descriptor below the reserve, and each connection past
    them was closed at its accept, a joiner's and a restarted member's too, as long as
    the flood connected again as fast as its connections timed out. Now the endpoint's
    share is theirs to hold, not the reserve, and a newcomer from another address takes
    the place of a connection of the heaviest."""
    limit = 4096
    process = Process(limit, 70)  # a manager's own descriptors
    endpoint = Endpoint(StrangerGate(), process)
    gate = endpoint.gate
    attackers = [f"10.9.0.{i}" for i in range(1, 13)]
    held: deque[tuple[float, Connection]] = deque()  # the flood's, in accept order
    admitted = refused = 0
    for tick in range(2000):  # 10 ms each
        now = tick / 100
        while held and held[0][0] + HANDSHAKE_TIMEOUT <= now:
            _, gone = held.popleft()  # ZeroMQ ends a handshake that never came
            if gate.connection(gone.fd) is gone:
                endpoint.close(gone)
        for i in range(40):  # the flood connects again as fast as it is let
            source = attackers[(tick + i) % len(attackers)]
            if gate.unproven(source) < DEFAULT_STRANGER_LIMITS.source_unproven:
                connection, word = endpoint.connect(source, now)
                if word.refusal is None:
                    held.append((now, connection))
                    admitted += 1
                else:
                    refused += 1
        if tick % 50 == 25:  # a joiner, and a member connecting again after its restart
            joiner, word = endpoint.connect(f"10.0.0.{tick // 50 + 1}", now)
            assert word.refusal is None, word.refusal
            member, word = endpoint.connect("10.1.0.1", now)
            assert word.refusal is None, word.refusal
            gate.admit("10.1.0.1", b"m" * 40, True, now)
            gate.member_frame(member.fd, b"member %d" % tick)
            endpoint.close(joiner)  # joined
    cap = unproven_cap(limit, DEFAULT_STRANGER_LIMITS.unproven_share)
    assert cap == 1024
    assert admitted > cap and refused > 0  # the flood held its share, and tried for more
    assert gate._open_unproven.count() == cap
    assert process.peak < limit - descriptor_reserve(limit)  # the reserve stays untouched
