"""When the Raft loop snapshots and how much log it keeps (actors/raft_node/compaction.py)."""

from __future__ import annotations

from actors.raft_node.compaction import (
    LOG_TO_SNAPSHOT,
    SNAPSHOT_LOG_BYTES_MIN,
    compact_point,
    snapshot_due,
)


def test_a_snapshot_is_due_by_entries_or_by_bytes() -> None:
    assert not snapshot_due(0, 10**9, 100, 0)  # nothing applied since
    assert snapshot_due(100, 0, 100, 0)
    assert not snapshot_due(99, SNAPSHOT_LOG_BYTES_MIN - 1, 100, 0)
    assert snapshot_due(1, SNAPSHOT_LOG_BYTES_MIN, 100, 0)
    # a big store: the log may grow to LOG_TO_SNAPSHOT times its last snapshot
    big = 4 * SNAPSHOT_LOG_BYTES_MIN
    assert not snapshot_due(10, LOG_TO_SNAPSHOT * big - 1, 10_000, big)
    assert snapshot_due(10, LOG_TO_SNAPSHOT * big, 10_000, big)


def test_the_kept_log_is_bounded_by_entries_and_bytes() -> None:
    sizes = [10] * 100  # entries 51..150 after the compaction point 50
    assert compact_point(150, 50, sizes, 500, 10**6) == 50  # keeps everything
    assert compact_point(150, 50, sizes, 20, 10**6) == 130  # the last 20
    assert compact_point(150, 50, sizes, 500, 55) == 145  # the last 5 (50 bytes)
    assert compact_point(150, 50, sizes, 3, 55) == 147
    # an entry bigger than the byte bound alone is not kept
    assert compact_point(150, 50, [*sizes[:-1], 1000], 500, 55) == 150
    assert compact_point(120, 50, sizes, 500, 0) == 120
