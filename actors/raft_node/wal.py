"""Write-ahead log segments: record framing, encoding, scanning and the tail writer.

Rules of the format (the storage module builds on them):
- A segment file ``wal-<seq:016x>-<first_index:016x>.log`` is a sequence of records; each
  record is ``<u32 length><u32 crc32(length bytes + payload)><payload>`` (little endian),
  where payload = cipher.encrypt(msgpack(record)) or plain msgpack without a cipher.
- Every segment starts with a HEADER record holding the whole durable state except the
  entries (hard state, the compaction point, the last index, the bootstrap ConfState),
  so segments wholly covered by a compaction can be deleted without losing anything.
- A segment is created durably (`actors.durable.write_durable`: under a temporary name,
  renamed once its header is on disk), so only the last record of the last segment can be
  torn by a crash. Appends write every byte and fdatasync before returning.
- Zeros are written ahead of the tail (`PREALLOCATE` bytes at a time, never past the
  segment's size limit), and records overwrite them in place: an fdatasync that leaves
  the file's size and blocks alone needs no journal commit (80 us against 120-140 us per
  write on this project's machines). A segment thus ends in zeros after a crash, which a
  scan reads as its end (`scan_segment`); a clean close cuts them off.
- The zeros stay at least `PREALLOCATE` bytes ahead of the records: they are extended
  once fewer are left, while the records still fit. A disk that cannot hold more is
  known then (`SegmentWriter.short_of_space`), with room left for the writes in flight,
  so the leader can refuse new ones before a record finds no room; a record that finds
  none fails the writer (what reached the disk is unknown).
"""

from __future__ import annotations

import errno
import os
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import msgpack

from actors.durable import pwrite_all, write_durable
from actors.raft_node.types import Entry, EntryType, HardState, StorageError

__all__ = [
    "KIND_BATCH",
    "KIND_COMPACT",
    "KIND_HEADER",
    "PREALLOCATE",
    "Cipher",
    "DecryptFailed",
    "SegmentScan",
    "SegmentWriter",
    "WalCorrupted",
    "decode_entries",
    "decode_payload",
    "encode_batch",
    "encode_compact",
    "encode_header",
    "find_valid_record_after",
    "frame",
    "list_segments",
    "scan_segment",
    "segment_name",
]

FRAME = struct.Struct("<II")
MAX_RECORD_BYTES = 1 << 30
PREALLOCATE = 1 << 20  # bytes of zeros written ahead of a segment's tail at a time
_NO_SPACE: Final = (errno.ENOSPC, errno.EDQUOT)

# Records, as msgpack arrays (hs = [term, vote, commit]):
KIND_HEADER = 0  # [0, seq, hs, offset, offset_term, last, last_term, voters, learners]
KIND_BATCH = 1  # [1, hs|None, [snap_index, snap_term]|None, first, terms, types, datas]
KIND_COMPACT = 2  # [2, index, term]: entries up to index dropped, term(index) == term

_SEGMENT_RE = re.compile(r"^wal-([0-9a-f]{16})-([0-9a-f]{16})\.log$")
_ENTRY_TYPES: tuple[EntryType, ...] = tuple(EntryType)


class Cipher(Protocol):
    """Encryption seam for data at rest: applied to every WAL payload and snapshot file."""

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


class WalCorrupted(StorageError):
    """A record that is not the torn tail of the log is damaged: recovery would lose data."""

    def __init__(self, path: Path, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt WAL record at byte offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class DecryptFailed(StorageError):
    """A record or snapshot passed its CRC but the cipher refused it (wrong key?)."""


def segment_name(seq: int, first_index: int) -> str:
    return f"wal-{seq:016x}-{first_index:016x}.log"


def list_segments(directory: Path) -> list[tuple[int, int, Path]]:
    """(seq, first_index, path) of every segment, in sequence order."""
    found = []
    for path in directory.iterdir():
        match = _SEGMENT_RE.match(path.name)
        if match:
            found.append((int(match.group(1), 16), int(match.group(2), 16), path))
    found.sort()
    return found


# -- framing and encoding --------------------------------------------------------------


def frame(record: list[Any], cipher: Cipher | None) -> bytes:
    payload: bytes = msgpack.packb(record)
    if cipher is not None:
        payload = cipher.encrypt(payload)
    length = len(payload).to_bytes(4, "little")
    return length + zlib.crc32(payload, zlib.crc32(length)).to_bytes(4, "little") + payload


def _hard_state_list(hard_state: HardState | None) -> list[int] | None:
    if hard_state is None:
        return None
    return [hard_state.term, hard_state.vote, hard_state.commit]


def encode_batch(
    hard_state: HardState | None,
    snapshot_point: tuple[int, int] | None,
    entries: Sequence[Entry],
) -> list[Any]:
    """One record for everything of one Ready: columnar entries, packed in one call."""
    first = entries[0].index if entries else 0
    return [
        KIND_BATCH,
        _hard_state_list(hard_state),
        list(snapshot_point) if snapshot_point is not None else None,
        first,
        [e.term for e in entries],
        [e.type for e in entries],
        [e.data for e in entries],
    ]


def encode_compact(index: int, term: int) -> list[Any]:
    return [KIND_COMPACT, index, term]


def encode_header(
    seq: int,
    hard_state: HardState,
    offset: tuple[int, int],
    last: tuple[int, int],
    bootstrap: tuple[tuple[int, ...], tuple[int, ...]],
) -> list[Any]:
    return [
        KIND_HEADER,
        seq,
        _hard_state_list(hard_state),
        offset[0],
        offset[1],
        last[0],
        last[1],
        list(bootstrap[0]),
        list(bootstrap[1]),
    ]


def decode_entries(
    first: int, terms: list[int], types: list[int], datas: list[bytes]
) -> list[Entry]:
    return list(
        map(
            Entry,
            range(first, first + len(terms)),
            terms,
            datas,
            map(_ENTRY_TYPES.__getitem__, types),
        )
    )


def decode_payload(payload: bytes, cipher: Cipher | None, path: Path, offset: int) -> list[Any]:
    if cipher is not None:
        try:
            payload = cipher.decrypt(payload)
        except Exception as exc:
            raise DecryptFailed(f"{path}: record at byte offset {offset} does not decrypt") from exc
    try:
        record = msgpack.unpackb(payload)
    except Exception as exc:
        raise WalCorrupted(path, offset, f"undecodable record ({exc})") from exc
    if not isinstance(record, list) or not record or record[0] not in (0, 1, 2):
        raise WalCorrupted(path, offset, "unknown record kind")
    return record


# -- scanning --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """The valid records of one segment; `bad_offset` is where reading stopped, if early."""

    path: Path
    records: list[tuple[int, bytes]]  # (byte offset, payload)
    end: int  # byte offset just past the last valid record
    size: int
    bad_offset: int | None
    bad_reason: str


def _record_at(data: bytes | memoryview, pos: int) -> tuple[int, str]:
    """Length of the valid record at pos, or (-1, reason)."""
    size = len(data)
    if size - pos < FRAME.size:
        return -1, "truncated record header"
    length, crc = FRAME.unpack_from(data, pos)
    if length == 0 or length > MAX_RECORD_BYTES:
        return -1, f"implausible record length {length}"
    if length > size - pos - FRAME.size:
        return -1, "record runs past the end of the file"
    start = pos + FRAME.size
    if zlib.crc32(data[start : start + length], zlib.crc32(data[pos : pos + 4])) != crc:
        return -1, "CRC mismatch"
    return length, ""


def scan_segment(path: Path) -> SegmentScan:
    data = path.read_bytes()
    view = memoryview(data)
    records: list[tuple[int, bytes]] = []
    pos = 0
    size = len(data)
    while pos < size:
        length, reason = _record_at(view, pos)
        if length < 0:
            if data.count(0, pos) == size - pos:  # zeros written ahead of the tail: the end
                return SegmentScan(path, records, pos, size, None, "")
            return SegmentScan(path, records, pos, size, pos, reason)
        start = pos + FRAME.size
        records.append((pos, data[start : start + length]))
        pos = start + length
    return SegmentScan(path, records, pos, size, None, "")


def find_valid_record_after(path: Path, offset: int) -> int | None:
    """Offset of any CRC-valid record starting after `offset`: proof that the damage at
    `offset` is in the middle of the log rather than a torn tail."""
    data = path.read_bytes()
    view = memoryview(data)
    end = len(data.rstrip(b"\0"))
    for pos in range(offset + 1, end - FRAME.size + 1):
        if _record_at(view, pos)[0] > 0:
            return pos
    return None


# -- writing ---------------------------------------------------------------------------


class SegmentWriter:
    """Appends framed records to the tail segment; `write` returns once they are on disk.
    Records overwrite zeros written ahead of them (the module's rules): ``size`` is where
    the records end, ``allocated`` the file's size, at most ``segment_bytes`` unless one
    record needs more."""

    def __init__(
        self,
        path: Path,
        seq: int,
        first_index: int,
        size: int,
        header_size: int,
        *,
        segment_bytes: int,
    ) -> None:
        self.path = path
        self.seq = seq
        self.first_index = first_index
        self.size = size
        self.header_size = header_size
        self.segment_bytes = segment_bytes
        self.short_of_space = False  # the zeros ahead could not be extended: a full disk
        self._failed = False
        self._fd = os.open(path, os.O_WRONLY)
        self.allocated = os.lseek(self._fd, 0, os.SEEK_END)
        if self.allocated < size:
            os.close(self._fd)
            raise StorageError(f"{path}: size changed under us")

    @classmethod
    def create(
        cls,
        directory: Path,
        seq: int,
        first_index: int,
        header: bytes,
        body: bytes = b"",
        *,
        segment_bytes: int,
    ) -> SegmentWriter:
        """A new segment holding `header` and then the records of `body`, made visible only
        once all of it is durable."""
        path = directory / segment_name(seq, first_index)
        write_durable(path, header + body)
        size = len(header) + len(body)
        return cls(path, seq, first_index, size, len(header), segment_bytes=segment_bytes)

    def write(self, data: bytes) -> None:
        if self._failed:
            raise StorageError(f"{self.path}: an earlier write failed; reopen the storage")
        end = self.size + len(data)
        try:
            if end > self.allocated:  # one record larger than the zeros ahead
                self._allocate(end)
            pwrite_all(self._fd, data, self.size)
            os.fdatasync(self._fd)
        except OSError:
            # What reached the disk is unknown after a failed write or fsync: refuse to go
            # on (a torn record must stay the tail) and let a restart recover from the file.
            self._failed = True
            raise
        self.size = end
        if self.allocated - end < PREALLOCATE and self.allocated < self.segment_bytes:
            self.extend_zeros()

    def extend_zeros(self) -> bool:
        """Extend the zeros ahead of the records to `PREALLOCATE` past their room (at most
        to the segment's limit); on a full disk keep what was written and set
        ``short_of_space``. True when there is room enough again."""
        target = min(self.size + 2 * PREALLOCATE, self.segment_bytes)
        try:
            if target > self.allocated:
                self._allocate(target)
        except OSError as exc:
            if exc.errno not in _NO_SPACE:
                raise
            self.short_of_space = self.allocated - self.size < PREALLOCATE
        else:
            self.short_of_space = False
        return not self.short_of_space

    def _allocate(self, end: int) -> None:
        """Write zeros up to `PREALLOCATE` bytes past the file's end (at least to ``end``,
        at most to the segment's limit): written blocks, not fallocate's unwritten ones,
        whose first write would need a journal commit again. The next fdatasync makes
        them durable with the record written into them."""
        target = max(end, min(self.allocated + PREALLOCATE, self.segment_bytes))
        try:
            pwrite_all(self._fd, bytes(target - self.allocated), self.allocated)
        except OSError:
            self.allocated = os.fstat(self._fd).st_size  # the zeros that made it, kept
            raise
        self.allocated = target

    def close(self) -> None:
        """Cut the zeros off the tail (a clean close leaves only records) and close."""
        if self._fd < 0:
            return
        try:
            if not self._failed and self.allocated > self.size:
                os.ftruncate(self._fd, self.size)
                os.fdatasync(self._fd)
                self.allocated = self.size
        finally:
            os.close(self._fd)
            self._fd = -1
