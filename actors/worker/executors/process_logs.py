"""Reading a process task's output back from the log files its shim writes
(actors/worker/executors/process_shim.py): ``<task>.log`` and the rotated
``<task>.log.1`` ... (older first).

Rules:
- Each line of a file is one JSON record ``{"time", "stream", "log"}``; a line that does
  not parse (a record torn by a crash) is skipped.
- A query without ``follow`` reads what the files hold now: ``since`` and ``tail``
  applied (output.py), oldest first.
- With ``follow`` the stream then goes on with the current file, polled every ``poll``
  seconds. A rotation shows as a new file under the name: the old one is read to its end
  first. It ends when the file is fully read and ``finished()`` says the task's process
  has exited (the shim closes the log before it records the exit), or on ``close``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final

from actors.worker.executors.output import STDERR, STDOUT, OutputLine, OutputQuery

__all__ = [
    "DEFAULT_LOG_FILES",
    "DEFAULT_LOG_MAX_BYTES",
    "ProcessOutput",
    "log_files",
    "parse_record",
    "read_text",
]

DEFAULT_LOG_MAX_BYTES: Final = 10 * 1024 * 1024  # a task's log is rotated at this size
DEFAULT_LOG_FILES: Final = 3  # ... keeping this many files
POLL: Final = 0.1
_STREAMS: Final = frozenset({STDOUT, STDERR})


def log_files(log_file: Path) -> list[Path]:
    """The files of one task's log, oldest first (rotated ones, then ``log_file``)."""
    rotated: list[tuple[int, Path]] = []
    prefix = log_file.name + "."
    try:
        # a scan, not a glob: a glob pattern per task filled the regex caches
        with os.scandir(log_file.parent) as entries:
            for entry in entries:
                suffix = entry.name[len(prefix) :]
                if entry.name.startswith(prefix) and suffix.isdigit():
                    rotated.append((int(suffix), log_file.parent / entry.name))
    except FileNotFoundError:
        pass
    return [path for _, path in sorted(rotated, reverse=True)] + [log_file]


def parse_record(raw: bytes) -> OutputLine | None:
    """One JSON line of a log file, or None when it is not a record."""
    try:
        record = json.loads(raw)
        stream = record["stream"]
        data = str(record["log"]).encode("utf-8", "surrogateescape")
        return OutputLine(int(record["time"]), str(stream), data) if stream in _STREAMS else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_text(log_file: Path) -> str:
    """Everything the task wrote, stdout and stderr interleaved (tests, diagnostics)."""
    lines = ProcessOutput(log_file, OutputQuery(), finished=lambda: True)
    return b"".join(line.data for line in lines).decode("utf-8", "replace")


class ProcessOutput:
    """One read of a task's output (see the module docstring); iterate once."""

    def __init__(
        self,
        log_file: Path,
        query: OutputQuery,
        *,
        finished: Callable[[], bool],
        poll: float = POLL,
    ) -> None:
        self._log_file = log_file
        self._query = query
        self._finished = finished
        self._poll = poll
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()

    def __iter__(self) -> Iterator[OutputLine]:
        files = self._open_all()
        try:
            current = files[-1] if files and files[-1][0] == self._log_file else None
            yield from self._initial(files)
            if self._query.follow:
                yield from self._follow(current)
        finally:
            for _, handle in files:
                handle.close()

    def _open_all(self) -> list[tuple[Path, IO[bytes]]]:
        opened: list[tuple[Path, IO[bytes]]] = []
        for path in log_files(self._log_file):
            with contextlib.suppress(FileNotFoundError):
                opened.append((path, open(path, "rb")))  # noqa: SIM115 (closed in __iter__)
        return opened

    def _keep(self, line: OutputLine | None) -> bool:
        return line is not None and line.ts >= self._query.since

    def _initial(self, files: list[tuple[Path, IO[bytes]]]) -> Iterator[OutputLine]:
        tail = self._query.tail
        kept: collections.deque[OutputLine] | None = (
            collections.deque(maxlen=tail) if tail >= 0 else None
        )
        for _, handle in files:
            for raw in handle:
                if not raw.endswith(b"\n"):  # a record still being written: read it later
                    handle.seek(-len(raw), os.SEEK_CUR)
                    break
                line = parse_record(raw)
                if not self._keep(line):
                    continue
                assert line is not None
                if kept is None:
                    yield line
                else:
                    kept.append(line)
        if kept is not None:
            yield from kept

    def _follow(self, current: tuple[Path, IO[bytes]] | None) -> Iterator[OutputLine]:
        handle = current[1] if current is not None else None
        buffered = b""
        while not self._closed.is_set():
            if handle is None:
                with contextlib.suppress(FileNotFoundError):
                    handle = open(self._log_file, "rb")  # noqa: SIM115 (closed below)
            if handle is not None:
                chunk = handle.read()
                if not chunk and self._rotated(handle):
                    chunk = handle.read()  # what was written just before the rotation
                    if not chunk:
                        handle.close()
                        handle, buffered = None, b""
                        continue
                if chunk:
                    buffered += chunk
                    *complete, buffered = buffered.split(b"\n")
                    for raw in complete:
                        line = parse_record(raw)
                        if self._keep(line):
                            assert line is not None
                            yield line
                    continue
            if self._finished() and (handle is None or not self._grew(handle)):
                break
            self._closed.wait(self._poll)
        if handle is not None and (current is None or handle is not current[1]):
            handle.close()

    def _rotated(self, handle: IO[bytes]) -> bool:
        """True when the name now points at another file than ``handle`` (rotation)."""
        try:
            named = os.stat(self._log_file)
        except FileNotFoundError:
            return False  # between the renames of a rotation, or the task was removed
        held = os.fstat(handle.fileno())
        return (named.st_ino, named.st_dev) != (held.st_ino, held.st_dev)

    def _grew(self, handle: IO[bytes]) -> bool:
        return os.fstat(handle.fileno()).st_size > handle.tell() or self._rotated(handle)
