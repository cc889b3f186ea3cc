"""Logging: JSON lines with node_id and subsystem, redaction, the bounded ring, subscribers."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from actors import log


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    log.configure("json", stream=stream, force=True)
    log.set_node_id("n0d3id")
    yield stream
    log.set_node_id("")


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_node_id_subsystem_level_and_iso_time(out: io.StringIO) -> None:
    log.get_logger("raft").info("raft.election.won", term=7)
    (event,) = lines(out)
    assert event["event"] == "raft.election.won"
    assert event["node_id"] == "n0d3id"
    assert event["subsystem"] == "raft"
    assert event["level"] == "info"
    assert event["term"] == 7
    assert str(event["timestamp"]).endswith("Z") and "T" in str(event["timestamp"])


def test_node_id_reaches_events_from_other_threads(out: io.StringIO) -> None:
    worker = threading.Thread(target=lambda: log.get_logger("store").info("store.ready"))
    worker.start()
    worker.join()
    assert lines(out)[0]["node_id"] == "n0d3id"


def test_exceptions_are_rendered(out: io.StringIO) -> None:
    try:
        raise ValueError("bad frame")
    except ValueError:
        log.get_logger("transport").exception("transport.frame.rejected")
    event = lines(out)[0]
    assert "ValueError: bad frame" in str(event["exception"])


def test_secrets_are_never_logged(out: io.StringIO) -> None:
    log.get_logger("ca").info(
        "ca.join",
        join_token="SWMTKN-1-abc-def",
        secret_key=b"0123",
        detail="unlock with SWMKEY-1-xyz please",
        public_key="visible",
    )
    text = out.getvalue()
    assert "SWMTKN-1-abc" not in text and "SWMKEY-1-xyz" not in text and "0123" not in text
    event = lines(out)[0]
    assert event["join_token"] == log.REDACTED
    assert event["public_key"] == "visible"


def test_stdlib_records_join_the_same_stream(out: io.StringIO) -> None:
    logging.getLogger("pykka").error("Unhandled exception in Foo")
    event = lines(out)[0]
    assert event["subsystem"] == "pykka" and event["node_id"] == "n0d3id"


def test_format_follows_the_terminal_unless_chosen() -> None:
    tty = TTY()
    log.configure(stream=tty, force=True)
    log.get_logger("node").info("node.started")
    assert not tty.getvalue().startswith("{")
    pipe = io.StringIO()
    log.configure(stream=pipe, force=True)
    log.get_logger("node").info("node.started")
    assert json.loads(pipe.getvalue())["event"] == "node.started"
    forced = TTY()
    log.configure("json", stream=forced, force=True)
    log.get_logger("node").info("node.started")
    assert json.loads(forced.getvalue())["subsystem"] == "node"


def test_configure_twice_without_force_keeps_the_first() -> None:
    first = io.StringIO()
    log.configure("json", stream=first, force=True)
    log.configure("console", stream=io.StringIO())
    log.get_logger("node").info("node.started")
    assert json.loads(first.getvalue())["event"] == "node.started"


def test_ring_is_bounded_and_keeps_the_newest() -> None:
    ring = log.configure("json", stream=io.StringIO(), ring_size=5, force=True)
    for i in range(12):
        log.get_logger("test").info("test.tick", i=i)
    held = ring.snapshot()
    assert len(held) == 5 == len(ring)
    assert [e["i"] for e in held] == [7, 8, 9, 10, 11]
    assert held[0]["subsystem"] == "test"


def test_subscribers_get_new_events_and_lose_overflow_without_blocking() -> None:
    ring = log.configure("json", stream=io.StringIO(), ring_size=100, force=True)
    log.get_logger("test").info("test.before")
    with ring.subscribe(maxsize=3) as sub:
        for i in range(5):
            log.get_logger("test").info("test.after", i=i)
        got = sub.drain()
        assert [e["i"] for e in got] == [0, 1, 2]
        assert sub.dropped == 2
        assert sub.get(timeout=0) is None
    log.get_logger("test").info("test.closed")
    assert sub.get(timeout=0) is None


def test_subscribe_with_replay_starts_from_the_held_events() -> None:
    ring = log.configure("json", stream=io.StringIO(), force=True)
    log.get_logger("test").info("test.one")
    sub = ring.subscribe(replay=True)
    log.get_logger("test").info("test.two")
    assert [e["event"] for e in sub.drain()] == ["test.one", "test.two"]
    sub.close()


def test_ring_events_are_json_safe() -> None:
    ring = log.configure("console", stream=io.StringIO(), force=True)
    try:
        raise KeyError("x")
    except KeyError:
        log.get_logger("test").exception("test.failed", raw=b"\x01", obj=object())
    event = ring.snapshot()[-1]
    json.dumps(event)
    assert "KeyError" in str(event["exception"])


def test_an_event_before_the_node_id_is_known_carries_none() -> None:
    """Not a placeholder ("-", before): a first start's lines before the node has an id."""
    stream = io.StringIO()
    log.configure("json", stream=stream, force=True)
    log.set_node_id("")
    log.get_logger("keys").info("node.keys.created")
    log.set_node_id("n0d3id")
    log.get_logger("node").info("node.started")
    log.set_node_id("")
    first, second = lines(stream)
    assert "node_id" not in first and first["subsystem"] == "keys"
    assert second["node_id"] == "n0d3id"
