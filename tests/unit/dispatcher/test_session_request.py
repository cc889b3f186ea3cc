"""A node's session request (actors/dispatcher/session_request.py): its description
through the codec and back, what travels beside it, what the node says it reads, and where
its address comes from."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.dispatcher.session_request import (
    SET_IN_PARTS,
    SHARED_SPECS,
    encode_session_request,
    parse_session_request,
    reads_shared_specs,
    session_addr,
    takes_sets_in_parts,
)
from actors.dispatcher.wire import SESSION
from api.codec_objects import ObjectDecodeError
from api.objects import ExecutorDescription, NodeDescription, Platform
from tests.unit.dispatcher.helpers import NODE_A
from transport.codec import decode, encode


def test_session_request_round_trip() -> None:
    desc = NodeDescription(hostname="h", platform=Platform("linux", "aarch64"))
    envelope = decode(encode(SESSION, encode_session_request(NODE_A, desc), request_id=3))
    assert parse_session_request(envelope.body) == (NODE_A, desc)


def test_a_nodes_executor_travels_beside_its_description() -> None:
    # beside, not in: an older manager decodes the description strictly and would refuse
    # the session over a field it does not know; it ignores a body field it does not know
    executor = ExecutorDescription(kind="process", capabilities=())
    desc = NodeDescription(hostname="h", executor=executor)
    body = encode_session_request(NODE_A, desc)
    assert "executor" not in body["description"]
    assert body["executor"] == {"kind": "process", "capabilities": []}
    envelope = decode(encode(SESSION, body, request_id=3))
    assert parse_session_request(envelope.body) == (NODE_A, desc)
    older = {k: v for k, v in envelope.body.items() if k != "executor"}  # an older node
    assert parse_session_request(older) == (NODE_A, replace(desc, executor=None))
    with pytest.raises(ObjectDecodeError, match=r"executor\.capabilities"):
        parse_session_request({**older, "executor": {"kind": "x", "capabilities": [1]}})


def test_a_sessions_address_is_the_connections_ip_or_none() -> None:
    assert session_addr("10.1.1.1") == "10.1.1.1"
    assert session_addr("::1") == "::1"
    # ipc's peer address names a process, not a host; a socket may give none
    assert session_addr("localhost:0:0:17915") == ""
    assert session_addr("") == ""


def test_a_node_asks_for_shared_specs_in_its_session_request() -> None:
    desc = NodeDescription(hostname="h", platform=Platform("linux", "aarch64"))
    request = decode(encode(SESSION, encode_session_request(NODE_A, desc), request_id=3))
    assert request.body["specs"] == SHARED_SPECS and reads_shared_specs(request.body)
    for earlier in ({}, {"specs": 0}, {"specs": True}, {"specs": "1"}):
        assert not reads_shared_specs(earlier)


def test_a_node_says_it_takes_a_full_set_in_parts() -> None:
    desc = NodeDescription(hostname="h")
    request = decode(encode(SESSION, encode_session_request(NODE_A, desc), request_id=3))
    assert request.body["parts"] == SET_IN_PARTS and takes_sets_in_parts(request.body)
    # a node of an earlier version says nothing: its full set goes in one frame
    for earlier in ({}, {"parts": 0}, {"parts": True}, {"parts": "1"}):
        assert not takes_sets_in_parts(earlier)
