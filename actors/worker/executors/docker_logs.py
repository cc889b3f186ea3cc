"""A container's output from the Docker engine's log stream, stdout and stderr apart.

Rules:
- One ``GET /containers/NAME/logs`` with ``timestamps=1``: the engine sends frames of an
  8-byte header (stream: 1 stdout, 2 stderr; big-endian length) and a payload that starts
  with the line's RFC3339Nano time and a space (the json-file driver stores one message
  per line, long lines in 16 KiB pieces). ``parse_frame`` (pure) reads one.
- ``since``, ``tail`` and ``follow`` go to the engine as they are (output.py semantics
  are the engine's).
- The SDK's public ``logs`` merges the two streams, so this opens the request with the
  SDK's own session and reads the frames itself. Closing (any thread) shuts the
  response's socket down, as the SDK's ``CancellableStream`` does; a broken or timed-out
  stream just ends (the reader resumes, output.py). Errors opening it are mapped at the
  edge (docker.py).
- A container with a TTY (``--tty``) has one stream, not multiplexed: the engine sends
  its lines as they are (each with its time), all of them stdout.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from typing import Any, Final

from docker.types.daemon import CancellableStream

from actors.worker.executors.output import STDERR, STDOUT, OutputLine, OutputQuery
from api.timestamps import parse_rfc3339_ns

__all__ = ["DockerOutput", "log_params", "parse_frame"]

HEADER: Final = struct.Struct(">BxxxL")
_STREAMS: Final = {1: STDOUT, 2: STDERR}


def log_params(query: OutputQuery) -> dict[str, Any]:
    """The query of the engine's logs request."""
    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "timestamps": 1,
        "follow": 1 if query.follow else 0,
        "tail": str(query.tail) if query.tail >= 0 else "all",
    }
    if query.since > 0:
        seconds, nanos = divmod(query.since, 1_000_000_000)
        params["since"] = f"{seconds}.{nanos:09d}"
    return params


def parse_frame(stream_id: int, payload: bytes) -> OutputLine | None:
    """One frame's line, or None for a frame that is not stdout/stderr with a time."""
    stream = _STREAMS.get(stream_id)
    stamp, space, data = payload.partition(b" ")
    if stream is None or not space:
        return None
    try:
        ts = parse_rfc3339_ns(stamp.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return OutputLine(ts, stream, data)


class DockerOutput:
    """The engine's log stream of one container for one query; iterate once."""

    def __init__(self, response: Any, *, tty: bool = False) -> None:
        self._response = response
        self._tty = tty
        self._cancel = CancellableStream(iter(()), response)
        self.error = ""  # why the stream ended early, if it did

    def close(self) -> None:
        # already closed, or closed under us: nothing left to stop
        with contextlib.suppress(Exception):
            self._cancel.close()

    def __iter__(self) -> Iterator[OutputLine]:
        raw = self._response.raw
        try:
            if self._tty:
                for payload in iter(raw.readline, b""):
                    line = parse_frame(1, payload)
                    if line is not None:
                        yield line
                return
            while True:
                header = raw.read(HEADER.size)
                if len(header) < HEADER.size:
                    return
                stream_id, length = HEADER.unpack(header)
                payload = raw.read(length) if length else b""
                if len(payload) < length:
                    return
                line = parse_frame(stream_id, payload)
                if line is not None:
                    yield line
        except Exception as exc:  # a read timeout, a reset, a socket closed by close()
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._response.close()
