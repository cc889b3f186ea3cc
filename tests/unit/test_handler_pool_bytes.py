"""The handler pool's queue is bounded in bytes as well as in requests
(transport/handler_pool.py): requests waiting for a thread pin their frames, so 1024 of
them at 16 MiB would be 16 GiB."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from api.schema.frame import Envelope
from transport.endpoint import Request
from transport.handler_pool import HandlerPool
from transport.outbox import Outbox

MIB = 1024 * 1024


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    box = Outbox()
    yield box
    box.close()


def request(outbox: Outbox, n: int) -> Request:
    return Request(Envelope("ping", n), None, b"peer", outbox, endpoint="test", max_size=MIB)


def test_a_full_queue_in_bytes_refuses_until_its_requests_are_taken(outbox: Outbox) -> None:
    pool = HandlerPool("test", 1, max_queued_bytes=10 * MIB)
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []
    done = threading.Semaphore(0)

    def handler(req: Request) -> Mapping[str, Any] | None:
        started.set()
        release.wait(10)
        ran.append(req.id)
        done.release()
        return None

    try:
        assert pool.submit(handler, request(outbox, 1), size=8 * MIB)
        assert started.wait(10)  # the one thread holds request 1: nothing queued
        assert pool.submit(handler, request(outbox, 2), size=6 * MIB)
        assert pool.submit(handler, request(outbox, 3), size=4 * MIB)  # 10 MiB queued
        assert not pool.submit(handler, request(outbox, 4), size=1)  # one byte over
        release.set()
        for _ in range(3):
            assert done.acquire(timeout=10)
        assert ran == [1, 2, 3]
        assert pool.submit(handler, request(outbox, 5), size=4 * MIB)
        assert done.acquire(timeout=10)
    finally:
        release.set()
        pool.shutdown()


def test_an_empty_queue_takes_one_request_bigger_than_its_budget(outbox: Outbox) -> None:
    pool = HandlerPool("test", 1, max_queued_bytes=MIB)
    done = threading.Semaphore(0)

    def handler(_req: Request) -> Mapping[str, Any] | None:
        done.release()
        return None

    try:
        assert pool.submit(handler, request(outbox, 1), size=2 * MIB)
        assert done.acquire(timeout=10)
    finally:
        pool.shutdown()
