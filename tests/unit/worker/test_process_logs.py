"""A process task's output: the shim's log writer (lines, pieces, rotation) and the reader
(since, tail, follow across rotations, torn records), on real files."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

from actors.worker.executors.output import MAX_LINE_BYTES, OutputLine, OutputQuery
from actors.worker.executors.process_logs import ProcessOutput, log_files, parse_record
from actors.worker.executors.process_shim import LogWriter
from tests.support.waiting import wait_for


def read(path: Path, query: OutputQuery | None = None) -> list[OutputLine]:
    return list(ProcessOutput(path, query or OutputQuery(), finished=lambda: True))


def datas(lines: list[OutputLine]) -> list[bytes]:
    return [line.data for line in lines]


def test_lines_keep_their_stream_newline_and_bytes(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    writer = LogWriter(str(log), 1 << 20, 3)
    writer.feed("stdout", b"one\ntw")
    writer.feed("stderr", b"\xffbad utf8\n")
    writer.feed("stdout", b"o\nthree")
    writer.close()
    lines = read(log)
    assert [(line.stream, line.data) for line in lines] == [
        ("stdout", b"one\n"),
        ("stderr", b"\xffbad utf8\n"),
        ("stdout", b"two\n"),
        ("stdout", b"three"),  # the unfinished last line, written at close
    ]
    assert [line.ts for line in lines] == sorted(line.ts for line in lines)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_a_long_line_comes_in_pieces(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    writer = LogWriter(str(log), 1 << 20, 3)
    writer.feed("stdout", b"x" * (MAX_LINE_BYTES * 2 + 10) + b"\nshort\n")
    writer.close()
    assert [len(d) for d in datas(read(log))] == [MAX_LINE_BYTES, MAX_LINE_BYTES, 11, 6]


def test_the_log_is_rotated_at_its_cap_keeping_max_files(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    writer = LogWriter(str(log), 2048, 3)
    for i in range(200):
        writer.feed("stdout", f"line {i}\n".encode())
    writer.close()
    files = log_files(log)
    assert [p.name for p in files] == ["t.log.2", "t.log.1", "t.log"]
    assert all(p.stat().st_size <= 2048 for p in files)
    kept = datas(read(log))
    assert kept[-1] == b"line 199\n" and len(kept) < 200  # the oldest were dropped
    assert kept == [f"line {i}\n".encode() for i in range(200 - len(kept), 200)]


def test_since_and_tail_apply_in_that_order(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text(
        "".join(
            json.dumps({"time": t, "stream": "stdout", "log": f"{t}\n"}) + "\n"
            for t in range(1, 11)
        )
    )
    assert datas(read(log, OutputQuery(since=8))) == [b"8\n", b"9\n", b"10\n"]
    assert datas(read(log, OutputQuery(tail=2))) == [b"9\n", b"10\n"]
    assert datas(read(log, OutputQuery(since=3, tail=0))) == []
    assert len(read(log, OutputQuery(since=3, tail=100))) == 8


def test_torn_and_foreign_lines_are_skipped(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    good = json.dumps({"time": 5, "stream": "stderr", "log": "ok\n"})
    log.write_text(f"not json\n{good}\n" + '{"time": 6, "stream": "stdin", "log": "x"}\n')
    assert datas(read(log)) == [b"ok\n"]
    assert parse_record(b'{"time": 1}') is None
    assert read(tmp_path / "missing.log") == []


def test_a_follow_reads_on_across_rotations_until_the_task_finished(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    writer = LogWriter(str(log), 1024, 2)
    writer.feed("stdout", b"before\n")
    finished = threading.Event()
    stream = ProcessOutput(log, OutputQuery(follow=True), finished=finished.is_set, poll=0.01)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: [got.append(line.data) for line in stream])
    reader.start()
    wait_for(lambda: got == [b"before\n"], what="the first line")
    for i in range(100):  # about 5 rotations, each while the reader follows
        writer.feed("stdout", f"line {i}\n".encode())
        if i % 10 == 9:
            wait_for(lambda i=i: got[-1] == f"line {i}\n".encode(), what=f"line {i}")
    writer.close()
    finished.set()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert got == [b"before\n", *(f"line {i}\n".encode() for i in range(100))]
    assert len(log_files(log)) == 2  # it did rotate


def test_close_ends_a_follow(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    LogWriter(str(log), 1 << 20, 2).feed("stdout", b"x\n")
    stream = ProcessOutput(log, OutputQuery(follow=True), finished=lambda: False, poll=0.01)
    done = threading.Event()
    threading.Thread(target=lambda: (list(stream), done.set())).start()
    stream.close()
    wait_for(done.is_set, what="the follow ended")
