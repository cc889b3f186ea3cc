"""A Client that cannot open its socket closes what it opened (a ZeroMQ context left with
an open socket hangs in term() when it is garbage collected, e.g. at interpreter exit)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
import zmq

from transport.client import Client


def test_a_client_that_cannot_open_its_socket_closes_its_context() -> None:
    contexts: list[zmq.Context[Any]] = []
    real = zmq.Context

    def record(*args: Any) -> zmq.Context[Any]:
        context = real(*args)
        contexts.append(context)
        return context

    with (
        mock.patch("transport.client.zmq.Context", side_effect=record),
        pytest.raises(zmq.ZMQError),
    ):
        Client("tcp://127.0.0.1:9", server_key=b"")  # an empty CURVE key: refused
    assert len(contexts) == 1 and contexts[0].closed
