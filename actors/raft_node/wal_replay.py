"""Rebuild the log and hard state from the WAL segments of a directory.

Rules:
- Segments must have consecutive sequence numbers and each must start with its header.
- Damage in a segment that is not the last, or damage followed by any CRC-valid record,
  raises WalCorrupted (file and byte offset). Damage at the end of the last segment is a
  torn write: the file is truncated to its last valid record and the event logged.
- Replay starts from the first segment's header. Entries it names that lived in deleted
  segments are placeholders, which a later compaction or snapshot record must drop; a
  placeholder left at the end means a segment is missing, which raises WalCorrupted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from actors.durable import fsync_dir
from actors.raft_node.types import ConfState, Entry, HardState
from actors.raft_node.wal import (
    FRAME,
    KIND_BATCH,
    KIND_HEADER,
    Cipher,
    WalCorrupted,
    decode_entries,
    decode_payload,
    find_valid_record_after,
    list_segments,
    scan_segment,
)

__all__ = ["Replayed", "replay_wal"]


@dataclass(slots=True)
class Replayed:
    """The durable state found in the WAL, and where writing resumes."""

    hard_state: HardState = field(default_factory=HardState)
    bootstrap: ConfState = field(default_factory=ConfState)
    offset: int = 0  # the log holds offset+1 .. offset+len(entries)
    offset_term: int = 0
    entries: list[Entry] = field(default_factory=list)
    segments: list[tuple[int, int, Path]] = field(default_factory=list)  # (seq, first, path)
    tail_size: int = 0
    tail_header_size: int = 0


def replay_wal(directory: Path, cipher: Cipher | None, log: Any) -> Replayed:
    """Replay every segment; `segments` is empty when the directory holds none."""
    state = Replayed()
    ents: list[Entry | None] = []
    segments = list_segments(directory)
    for n, (seq, first, path) in enumerate(segments):
        is_last = n == len(segments) - 1
        if n and seq != segments[n - 1][0] + 1:
            raise WalCorrupted(path, 0, f"segment {segments[n - 1][0] + 1} is missing")
        scan = scan_segment(path)
        if scan.bad_offset is not None:
            if not is_last:
                raise WalCorrupted(path, scan.bad_offset, scan.bad_reason)
            later = find_valid_record_after(path, scan.bad_offset)
            if later is not None:
                reason = f"{scan.bad_reason}; a valid record follows at offset {later}"
                raise WalCorrupted(path, scan.bad_offset, reason)
            _truncate(path, scan.end)
            log.warning(
                "raft.storage.tail_truncated",
                path=str(path),
                offset=scan.end,
                dropped_bytes=scan.size - scan.end,
                reason=scan.bad_reason,
            )
        if not scan.records:
            if not is_last:
                raise WalCorrupted(path, 0, "segment holds no record")
            # Segments are renamed into place only with their header on disk, so this one
            # was damaged at its very start; nothing in it was ever acknowledged.
            path.unlink()
            fsync_dir(directory)
            log.warning("raft.storage.empty_segment_removed", path=str(path))
            break
        for pos, payload in scan.records:
            record = decode_payload(payload, cipher, path, pos)
            _apply(state, ents, record, path, pos, seq, pos == 0, n == 0)
        state.segments.append((seq, first, path))
        state.tail_size = scan.end
        state.tail_header_size = len(scan.records[0][1]) + FRAME.size
    if ents and ents[0] is None:
        raise WalCorrupted(state.segments[0][2], 0, "entries before this segment are missing")
    state.entries = cast(list[Entry], ents)  # no placeholder is left
    return state


def _apply(
    state: Replayed,
    ents: list[Entry | None],
    record: list[Any],
    path: Path,
    pos: int,
    seq: int,
    at_start: bool,
    first_segment: bool,
) -> None:
    kind = record[0]
    if at_start != (kind == KIND_HEADER):
        raise WalCorrupted(path, pos, "header record out of place")
    if kind == KIND_HEADER:
        _, header_seq, hs, offset, offset_term, last, _, voters, learners = record
        if header_seq != seq:
            raise WalCorrupted(path, pos, f"header of segment {header_seq} in segment {seq}")
        if first_segment:
            state.offset, state.offset_term = offset, offset_term
            ents[:] = [None] * (last - offset)  # entries that lived in deleted segments
        elif (offset, last) != (state.offset, state.offset + len(ents)):
            raise WalCorrupted(path, pos, "header disagrees with the segments before it")
        state.hard_state = HardState(*hs)
        state.bootstrap = ConfState(tuple(voters), tuple(learners))
    elif kind == KIND_BATCH:
        _, hs, point, first, terms, types, datas = record
        if point is not None:
            state.offset, state.offset_term = point
            ents.clear()
        if terms:
            if first <= state.offset or first > state.offset + len(ents) + 1:
                raise WalCorrupted(path, pos, f"entries from {first} do not fit the log")
            del ents[first - state.offset - 1 :]
            ents.extend(decode_entries(first, terms, types, datas))
        if hs is not None:
            state.hard_state = HardState(*hs)
    else:  # KIND_COMPACT
        _, index, term = record
        if not state.offset < index <= state.offset + len(ents):
            raise WalCorrupted(path, pos, f"compaction to {index} outside the log")
        del ents[: index - state.offset]
        state.offset, state.offset_term = index, term


def _truncate(path: Path, end: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, end)
        os.fsync(fd)
    finally:
        os.close(fd)
