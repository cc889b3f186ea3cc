"""A node's TLS report on the wire (``tls`` of ``dispatcher.session`` and
``dispatcher.heartbeat``, declared in api/schema/dispatcher.py ``NODE_TLS``): the
certificate the node uses (api/objects.py ``NodeTLSInfo``; how a node makes it and how a
root rotation reads it: actors/ca/tls_info.py).

Rules:
- It travels beside the description, never in it, as the executor does, and is absent
  from an older node's requests: the manager then keeps what it knew (a session request
  without it stores a description without it: a node that never reported, which a root
  rotation waits for).
- What a node sends is decoded tolerant (a newer node's extra fields skipped) and checked
  against its bounds (api/node_tls.py) before it is stored: `parse_tls_report` raises
  ``ObjectDecodeError`` or ``InvalidSpec`` naming the field. Whose report it is comes from
  the caller's certificate (actors/dispatcher/handlers.py), never from the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from api.codec_objects import decode, encode
from api.node_tls import validate_node_tls_info
from api.objects import NodeTLSInfo

__all__ = ["TLS_FIELD", "encode_tls_report", "parse_tls_report"]

TLS_FIELD: Final = "tls"


def encode_tls_report(info: NodeTLSInfo) -> dict[str, Any]:
    report: dict[str, Any] = encode(info)
    return report


def parse_tls_report(body: Mapping[str, Any]) -> NodeTLSInfo | None:
    """The report in a request's ``body`` (None: the node sent none)."""
    if TLS_FIELD not in body:
        return None
    info = decode(NodeTLSInfo, body[TLS_FIELD], TLS_FIELD, strict=False)
    validate_node_tls_info(info, TLS_FIELD)
    return info
