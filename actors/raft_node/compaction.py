"""When to snapshot and how much log to keep: bounded by entries and by bytes.

SwarmKit snapshots every ``snapshot_interval`` (10,000) entries and keeps
``log_entries_for_slow_followers`` (500) after it. Our entries are batches (up to 500
writes, hundreds of KiB each), so 10,000 of them are gigabytes: a 100,000-task fleet
wrote 300 MB of log and never reached a snapshot, all of it kept in memory. So both
counts get a byte bound beside them:

- snapshot when the entries applied since the last snapshot reach the interval, or their
  bytes reach ``LOG_TO_SNAPSHOT`` times the last snapshot's size (at least
  ``SNAPSHOT_LOG_BYTES_MIN``): the log never holds much more than a few times the store,
  and the encoding work stays a fixed share of the bytes written (a snapshot of S bytes
  after at least 4 S bytes of log). At 100,000 tasks a create writes ~45 MB of log and the
  store's snapshot is 20 MB. With 2 S, every manager snapshotted three times during the
  create (5, 11 and 20 MB), the last one as its final tasks came up, on all three managers
  at once; with 4 S and 16 MiB, once (bench/scale.py). In three alternating runs the
  create took 33-41 s against 41-47 s, the leader spent 22-23 s of CPU against 23-29 s,
  and its peak RSS was 1.95-1.99 KB per task against 2.7-2.8 KB (the machine at load
  5-13: the ratios, not the times, are the figure);
- compact to keep at most ``keep_entries`` entries and at most ``keep_bytes`` bytes for
  slow followers (one further behind gets the snapshot).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "KEEP_LOG_BYTES",
    "LOG_TO_SNAPSHOT",
    "SNAPSHOT_LOG_BYTES_MIN",
    "compact_point",
    "snapshot_due",
]

SNAPSHOT_LOG_BYTES_MIN = 16 << 20
LOG_TO_SNAPSHOT = 4
# ~30 entries of a 500-write batch (~130 KB each in store entry format 2, where a task's
# spec is written once per entry): a follower 15,000 writes behind, what 16 MiB kept
# before entries shrank fourfold; one further behind gets the snapshot
KEEP_LOG_BYTES = 4 << 20


def snapshot_due(
    entries_since: int, bytes_since: int, interval: int, last_snapshot_bytes: int
) -> bool:
    """Whether to snapshot, given the entries and bytes applied since the last one."""
    if entries_since <= 0:
        return False
    bound = max(SNAPSHOT_LOG_BYTES_MIN, LOG_TO_SNAPSHOT * last_snapshot_bytes)
    return entries_since >= interval or bytes_since >= bound


def compact_point(
    index: int, offset: int, sizes: Sequence[int], keep_entries: int, keep_bytes: int
) -> int:
    """The index to compact through so that at most ``keep_entries`` entries and
    ``keep_bytes`` bytes stay up to ``index``; ``sizes[i]`` is the size of entry
    ``offset + 1 + i`` (the log after the compaction point ``offset``). At least
    ``offset`` (nothing to drop)."""
    target = max(offset, index - keep_entries)
    kept = 0
    i = index
    while i > target:  # walk back from index while what it keeps fits the byte bound
        kept += sizes[i - offset - 1]
        if kept > keep_bytes:
            return i
        i -= 1
    return target
