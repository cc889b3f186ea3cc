"""`Outbox`'s direct sends (an inline handler's reply, on the I/O loop's own thread) hand
the CPU over to ZeroMQ's I/O thread once per turn of the loop (`transport.handoff`): the
first reply leaves before the rest of the turn runs; the others add no system call."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest

import transport.outbox
from transport.outbox import Outbox


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Outbox, list[int], list[str]]]:
    sent: list[int] = []  # how many were sent when the CPU was handed over
    written: list[str] = []
    monkeypatch.setattr(transport.outbox, "hand_over", lambda: sent.append(len(written)))
    box = Outbox()

    def direct(parts: Sequence[bytes]) -> None:
        written.append(parts[1].decode())

    box.own(direct)
    yield box, sent, written
    box.close()


def test_the_first_direct_send_of_a_turn_hands_over_and_the_others_do_not(
    outbox: tuple[Outbox, list[int], list[str]],
) -> None:
    box, handed, written = outbox
    box.sleep()
    box.woke(False)
    for frame in ("a", "b", "c"):
        assert box.send((b"peer", frame.encode()))
    assert written == ["a", "b", "c"]
    assert handed == [1]  # right after the first was written
    box.sleep()  # the next turn
    box.woke(False)
    box.send((b"peer", b"d"))
    assert handed == [1, 4]


def test_a_send_from_another_thread_is_queued_and_hands_nothing_over(
    outbox: tuple[Outbox, list[int], list[str]],
) -> None:
    box, handed, written = outbox
    other = threading.Thread(target=box.send, args=((b"peer", b"x"),))
    other.start()
    other.join()
    assert written == [] and handed == []
    assert box.take(10) == [(b"peer", b"x")]
