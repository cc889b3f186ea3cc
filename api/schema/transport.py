"""Message types of the transport itself (transport/).

``error`` answers a request that failed (code, message; the request's id). ``version``
asks a node who it is (a node serves it on its endpoints, locked or not: swarmctl's
``version``); ``ping`` is a liveness check.
"""

from __future__ import annotations

from typing import Final

from api.schema.declare import STR, Field, MessageType, OwnerSchema

__all__ = [
    "ERROR",
    "PING",
    "PONG",
    "SCHEMA",
    "VERSION",
    "VERSION_REPLY",
]

SCHEMA: Final = OwnerSchema("transport")

ERROR: Final = SCHEMA.declare(
    MessageType(
        "error",
        (Field("code", STR), Field("message", STR)),
        doc="The answer to a request that failed; carries the request's id.",
    )
)
PONG: Final = SCHEMA.declare(MessageType("pong", doc="Reply to ping."))
PING: Final = SCHEMA.declare(MessageType("ping", reply="pong", doc="Liveness check."))
VERSION_REPLY: Final = SCHEMA.declare(
    MessageType(
        "version.reply",
        (Field("node_id", STR), Field("role", STR), Field("version", STR)),
        doc="Who answered: node id, role (manager|worker) and software version.",
    )
)
VERSION: Final = SCHEMA.declare(
    MessageType("version", reply="version.reply", doc="Ask a node who it is.")
)
