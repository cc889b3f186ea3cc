"""A transport server in its own process, for the transport integration tests.

    python -m tests.integration.transport_server --bind tcp://127.0.0.1:0 --allow KEY ...

Prints one JSON line on stdout ({"address", "public_key"}), logs JSON lines on stderr, and
serves until stdin closes or it gets SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any

import structlog

from api.schema.declare import INT, STR, Field, MessageType
from api.schema.registry import register
from transport import AllowList, Endpoint, Handler, Request, generate_keypair

ECHO = register(
    MessageType(
        "test.echo",
        (Field("n", INT), Field("text", STR, required=False)),
        reply="test.echo.reply",
    )
)
ECHO_REPLY = register(
    MessageType("test.echo.reply", (Field("n", INT), Field("text", STR, required=False)))
)
# a request the server takes and never answers (a client's view of a server that dies)
HOLD = register(MessageType("test.hold", ()))


def echo(request: Request) -> Mapping[str, Any]:
    return dict(request.body)


def version(request: Request) -> Mapping[str, Any]:
    return {"node_id": "test-node", "role": "manager", "version": "0.1.0"}


HANDLERS: dict[str, Handler] = {
    "test.echo": echo,
    "test.hold": lambda r: None,
    "ping": lambda r: {},
    "version": version,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", default="tcp://127.0.0.1:0")
    parser.add_argument("--allow", action="append", default=[])
    parser.add_argument("--max-size", type=int, default=16 * 1024 * 1024)
    args = parser.parse_args()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    keypair = generate_keypair()
    endpoint = Endpoint(
        args.bind,
        HANDLERS,
        keypair=keypair,
        admission=AllowList(key.encode() for key in args.allow),
        max_message_size=args.max_size,
    )
    address = endpoint.start()
    print(json.dumps({"address": address, "public_key": keypair.public.decode()}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    endpoint.stop()


if __name__ == "__main__":
    main()
