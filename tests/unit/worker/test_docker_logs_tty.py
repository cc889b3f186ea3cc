"""A TTY container's log stream: one stream, not multiplexed, all stdout."""

from __future__ import annotations

import io

from actors.worker.executors.docker_logs import DockerOutput
from actors.worker.executors.output import STDOUT


class _Response:
    def __init__(self, data: bytes) -> None:
        self.raw = io.BytesIO(data)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_tty_lines_are_read_as_they_come() -> None:
    data = b"2026-01-02T03:04:05.000000001Z hello\r\n2026-01-02T03:04:06.000000000Z world\r\n"
    response = _Response(data)
    lines = list(DockerOutput(response, tty=True))
    assert [(line.stream, line.data) for line in lines] == [
        (STDOUT, b"hello\r\n"),
        (STDOUT, b"world\r\n"),
    ]
    assert lines[0].ts < lines[1].ts and response.closed
