"""An endpoint that stops delivers the replies queued before it was told to stop: a node
answers ``cluster leave`` and then stops its endpoints at once (actors/node/leaving.py),
with no grace to guess."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.integration.transport_server import ECHO
from transport import Client, Endpoint, Request

# more than the socket buffers hold: the reply is still on its way when the stop comes
TEXT = "x" * (4 * 1024 * 1024)
ROUNDS = 5


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # ipc paths are limited to about 100 bytes; pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="sn-") as d:
        yield Path(d)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_reply_queued_before_the_stop_reaches_its_client(short_dir: Path, round_: int) -> None:
    answered = threading.Event()

    def answer_then_stop(request: Request) -> Mapping[str, Any] | None:
        request.reply({"n": request.body["n"], "text": TEXT})
        answered.set()  # as the leave handler's ``replied``: the endpoint stops now
        return None

    endpoint = Endpoint(f"ipc://{short_dir / 'c.sock'}", {ECHO.name: answer_then_stop})
    endpoint.start()
    client = Client(endpoint.address, timeout=10.0)
    try:
        reply = client.request_async(ECHO.name, {"n": round_})
        assert answered.wait(10.0)
        endpoint.stop()
        body = reply.result(timeout=10.0)
        assert body["n"] == round_ and len(body["text"]) == len(TEXT)
    finally:
        client.close()
        endpoint.stop()
