"""The test ports (tests/support/ports.py): free, below the kernel's ephemeral range (where
no outgoing connection can take them between the pick and the node's bind), never handed
out twice by one process, and disjoint between pytest-xdist workers."""

from __future__ import annotations

import itertools
import socket

from tests.support import ports
from tests.support.ports import LOWEST, _ephemeral_start, free_port, free_port_pair, worker_slice


def test_picked_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    start = _ephemeral_start()
    picked = [free_port() for _ in range(20)]  # none bound in between, as RaftCluster does
    pair = free_port_pair()
    picked += [pair, pair + 1]
    assert len(set(picked)) == len(picked)
    assert all(LOWEST <= p < start for p in picked), (start, picked)
    for port in picked:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_a_port_something_holds_is_skipped() -> None:
    with socket.socket() as holder:
        held = free_port()
        holder.bind(("127.0.0.1", held))
        # the walk comes back to the held port (as after a wrap-around): it is passed over
        ports._next[0] = ports._SLICE.index(held)
        assert free_port() == held + 1


def test_each_worker_has_a_slice_of_its_own() -> None:
    slices = [worker_slice(32768, f"gw{i}", "4") for i in range(4)]
    assert slices[0].start == LOWEST and slices[-1].stop <= 32768
    for a, b in itertools.pairwise(slices):
        assert a.stop <= b.start
    assert worker_slice(32768, "gw5", "4") == slices[1]  # a crashed worker's replacement
    assert worker_slice(32768, None, None) == range(LOWEST, 32768)
    assert worker_slice(LOWEST + 100, "gw0", "1") == range(0)  # no room: the OS picks
