"""A node's session request on the wire (``dispatcher.session``, declared in
api/schema/dispatcher.py): who the node is, its description, and what it reads of the
frames that follow (the frames: actors/dispatcher/wire.py).

Rules:
- The transport has validated the body against its declaration; the description is
  decoded with the object codec, tolerant (``strict=False``): the fields a newer node adds
  are skipped, so the two versions of a rolling upgrade keep their sessions. Decoding
  errors are ``ObjectDecodeError`` naming the field.
- The node's executor and its TLS report (tls_report.py) travel beside the description,
  never in it, as an older manager decodes the description strictly; one inside is not
  read.
- The node says what it reads: ``mesh``, the routing mesh's table as changes
  (ingress_changes.py); ``specs`` (`SHARED_SPECS` or later), frames whose tasks name their
  specs in the node's table (spec_tables.py, frame_packing.py ``pack_frame``); ``parts``
  (`SET_IN_PARTS`), a full set too big for one frame in several that the node assembles
  (frame_packing.py, actors/worker/set_assembly.py). A node that says none of them (an
  earlier version) gets the table whole, each task's spec in the task, and its full set
  in one frame (one bigger than a frame cannot reach it).
- A node's address is where its session's connection comes from (`session_addr`), never
  an ``addr`` in the body (earlier versions sent one): a worker could claim another host's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from actors.dispatcher.ingress_changes import MESH_CHANGES
from actors.dispatcher.tls_report import TLS_FIELD, encode_tls_report, parse_tls_report
from api.codec_objects import decode, encode
from api.objects import ExecutorDescription, NodeDescription

__all__ = [
    "SET_IN_PARTS",
    "SHARED_SPECS",
    "encode_session_request",
    "parse_session_request",
    "reads_shared_specs",
    "session_addr",
    "takes_sets_in_parts",
]

# the session request's ``specs``: the node keeps the specs its session's frames carry,
# and a frame's tasks name theirs by index (actors/dispatcher/spec_tables.py)
SHARED_SPECS = 1
# the session request's ``parts``: the node assembles a full set sent in several frames
SET_IN_PARTS = 1


def encode_session_request(node_id: str, description: NodeDescription) -> dict[str, Any]:
    # mesh: this node reads the routing mesh's table as changes (ingress_changes.py);
    # specs: it keeps its session's specs, and its frames' tasks name them (pack_frame);
    # parts: it assembles a full set that comes in several frames (set_assembly.py);
    # executor and tls: beside the description, which an older manager decodes strictly
    described = encode(description)
    executor = described.pop("executor")
    described.pop("tls_info")
    body = {
        "node_id": node_id,
        "description": described,
        "mesh": MESH_CHANGES,
        "specs": SHARED_SPECS,
        "parts": SET_IN_PARTS,
    }
    if executor is not None:
        body["executor"] = executor
    if description.tls_info is not None:
        body[TLS_FIELD] = encode_tls_report(description.tls_info)
    return body


def reads_shared_specs(session_request: Mapping[str, Any]) -> bool:
    """Whether the node that sent ``session_request`` reads frames with shared specs."""
    value = session_request.get("specs")
    return type(value) is int and value >= SHARED_SPECS


def takes_sets_in_parts(session_request: Mapping[str, Any]) -> bool:
    """Whether the node that sent ``session_request`` assembles a full set in parts."""
    value = session_request.get("parts")
    return type(value) is int and value >= SET_IN_PARTS


def parse_session_request(body: Mapping[str, Any]) -> tuple[str, NodeDescription]:
    """The node and its description, with its executor and TLS report (tls_report.py:
    checked against its bounds). An ``addr`` in the body (sent by earlier versions) is
    not read: a node's address is where its connection comes from (session_addr)."""
    description = decode(NodeDescription, body["description"], "description", strict=False)
    if "executor" in body:
        executor = decode(ExecutorDescription, body["executor"], "executor", strict=False)
        description = replace(description, executor=executor)
    # the report travels beside the description (tls_report.py): one inside is not read
    description = replace(description, tls_info=parse_tls_report(body))
    return str(body["node_id"]), description


def session_addr(peer_address: str) -> str:
    """A node's address (``node.ip``, ``status.addr``) from its session's connection as the
    socket saw it, as SwarmKit's dispatcher takes it from the gRPC peer: never from the
    request's body, or a worker could claim another host's address. "" when the
    connection has no IP (ipc, inproc)."""
    try:
        return str(ipaddress.ip_address(peer_address))
    except ValueError:
        return ""
