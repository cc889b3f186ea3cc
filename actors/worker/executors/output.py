"""A task's output as executors give it: lines of stdout and stderr with their times.

Rules (``docker logs`` semantics, which both real executors follow):
- An ``OutputLine`` is one line as the task wrote it, newline included, stamped with the
  time the executor captured it (nanoseconds since the epoch) and the stream it came on.
  A line longer than ``MAX_LINE_BYTES`` comes in pieces of at most that size (the last
  piece carries the newline), as Docker splits its 16 KiB messages.
- ``OutputQuery``: ``since`` keeps lines stamped at or after it; ``tail`` keeps the last
  N lines (after ``since``; -1: all); ``follow`` goes on with new lines until the task
  stops running (or the stream is closed).
- An ``OutputStream`` is iterated by one thread; ``close`` (from any thread) ends the
  iteration soon. A stream that breaks (the engine went away, a read timed out) just
  ends: the reader resumes with ``since`` set to the last time it saw.

Pure: no runtime, thread or clock imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Protocol

__all__ = [
    "MAX_LINE_BYTES",
    "STDERR",
    "STDOUT",
    "OutputLine",
    "OutputQuery",
    "OutputStream",
    "split_line",
]

STDOUT: Final = "stdout"
STDERR: Final = "stderr"
MAX_LINE_BYTES: Final = 16 * 1024


@dataclass(frozen=True, slots=True)
class OutputLine:
    ts: int  # nanoseconds since the Unix epoch
    stream: str  # STDOUT | STDERR
    data: bytes


@dataclass(frozen=True, slots=True)
class OutputQuery:
    since: int = 0  # nanoseconds since the epoch; 0: from the first line
    tail: int = -1  # the last N lines only; -1: every line
    follow: bool = False

    def __post_init__(self) -> None:
        if self.since < 0:
            raise ValueError(f"since must be >= 0, got {self.since}")
        if self.tail < -1:
            raise ValueError(f"tail must be -1 (all) or >= 0, got {self.tail}")


class OutputStream(Protocol):
    def __iter__(self) -> Iterator[OutputLine]: ...

    def close(self) -> None:
        """End the iteration soon (from any thread); idempotent."""
        ...


def split_line(data: bytes, limit: int = MAX_LINE_BYTES) -> list[bytes]:
    """``data`` in pieces of at most ``limit`` bytes (one piece when it fits)."""
    if len(data) <= limit:
        return [data]
    return [data[i : i + limit] for i in range(0, len(data), limit)]
