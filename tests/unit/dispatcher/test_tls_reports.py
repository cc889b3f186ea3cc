"""A node's TLS report (actors/dispatcher/tls_report.py): beside the description in its
session request, again in a heartbeat once it changed; the core asks for it to be written
only when it changed, the writer puts it in the Node's description, and through the
running dispatcher a heartbeat's report reaches the store."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from functools import partial

import pytest

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.core import DispatcherCore, NodeWrite
from actors.dispatcher.front import SessionOpen
from actors.dispatcher.heartbeats import HeartbeatConfig
from actors.dispatcher.tls_report import encode_tls_report, parse_tls_report
from actors.dispatcher.wire import SESSION, encode_session_request, parse_session_request
from actors.dispatcher.writer import write_batch
from actors.store import MemoryStore, WriteTx, nodes
from api.codec_objects import ObjectDecodeError
from api.enums import NodeState
from api.node_tls import MAX_TLS_ROOTS
from api.objects import Node, NodeDescription, NodeTLSInfo
from api.spec_limits import InvalidSpec
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import NODE_A, GateOutbox, RecordingLog, session_request
from tests.unit.dispatcher.test_front import front_of
from transport.codec import decode, encode

KEY_A = b"A" * 40
OLD = NodeTLSInfo(("oldroot",), b"subject", b"old-key")
NEW = NodeTLSInfo(("oldroot", "newroot"), b"subject", b"new-key")
DESC = NodeDescription(hostname="box-a", tls_info=OLD)


def test_the_report_travels_beside_the_description() -> None:
    body = encode_session_request(NODE_A, DESC)
    assert "tls_info" not in body["description"]
    assert body["tls"] == encode_tls_report(OLD)
    envelope = decode(encode(SESSION, body, request_id=1))  # the schema takes it
    assert parse_session_request(envelope.body) == (NODE_A, DESC)
    # an older node sends none: a description without a report (a rotation waits for it)
    older = {k: v for k, v in envelope.body.items() if k != "tls"}
    assert parse_session_request(older) == (NODE_A, replace(DESC, tls_info=None))
    # a report inside the description is not the node's report
    inside = {**older, "description": {**older["description"], "tls_info": encode_tls_report(NEW)}}
    assert parse_session_request(inside)[1].tls_info is None


def test_a_report_out_of_bounds_or_of_the_wrong_shape_is_refused_naming_the_field() -> None:
    too_many = replace(OLD, trust_roots=("root",) * (MAX_TLS_ROOTS + 1))
    with pytest.raises(InvalidSpec, match=r"tls\.trust_roots"):
        parse_tls_report({"tls": encode_tls_report(too_many)})
    with pytest.raises(ObjectDecodeError, match=r"tls\.cert_issuer_subject"):
        parse_tls_report({"tls": {**encode_tls_report(OLD), "cert_issuer_subject": 7}})
    assert parse_tls_report({}) is None


def make_core() -> DispatcherCore:
    return DispatcherCore(HeartbeatConfig(period=1.0), random.Random(3), RecordingLog())


def test_a_heartbeats_report_is_written_only_when_it_changed() -> None:
    core = make_core()
    sid = core.open_session(0.0, NODE_A, KEY_A, DESC, "10.0.0.1", 1, []).session_id
    # a report taken in the tick of its session's open goes with the open's description
    core.heartbeat(0.5, NODE_A, sid, KEY_A, NEW)
    [write] = core.tick(0.5).node_writes
    assert (write.description, write.addr, write.tls) == (DESC, "10.0.0.1", NEW)
    core.heartbeat(1.0, NODE_A, sid, KEY_A, NEW)  # the same again: nothing to write
    core.heartbeat(1.5, NODE_A, sid, KEY_A)  # none: nothing either
    assert core.tick(1.5).node_writes == []
    core.heartbeat(2.0, NODE_A, sid, KEY_A, OLD)
    assert core.tick(2.0).node_writes == [NodeWrite(NODE_A, NodeState.READY, tls=OLD)]
    # a newer session's request brings its own report, which a report of the same tick
    # before it does not override
    core.heartbeat(2.5, NODE_A, sid, KEY_A, NEW)
    reopened = replace(DESC, tls_info=NodeTLSInfo(("newroot",), b"subject", b"new-key"))
    core.open_session(2.5, NODE_A, KEY_A, reopened, "10.0.0.1", 1, [])
    [write] = core.tick(2.5).node_writes
    assert write.description == reopened and write.tls is None


def test_the_writer_puts_the_report_in_the_nodes_description() -> None:
    store = MemoryStore.local(clock=time.time)

    def create(tx: WriteTx) -> None:
        tx.create(Node(NODE_A, description=NodeDescription(hostname="box-a")))
        tx.create(Node("b" * 25))  # joined, never in session: no description yet

    store.update(create)
    writes = [
        NodeWrite(NODE_A, NodeState.READY, tls=NEW),
        NodeWrite("b" * 25, NodeState.READY, tls=OLD),
    ]
    write_batch(store, writes, ())
    a, b = (store.view(partial(nodes.get, id=i)) for i in (NODE_A, "b" * 25))
    assert a is not None and a.description == NodeDescription(hostname="box-a", tls_info=NEW)
    assert b is not None and b.description == NodeDescription(tls_info=OLD)


def test_a_heartbeats_report_reaches_the_store() -> None:
    store = MemoryStore.local(clock=time.time)
    store.update(lambda tx: tx.create(Node(NODE_A)))
    link = DispatcherLink()
    ref = Dispatcher.start(None, store, link=link, tick_interval=0.05)
    try:
        wait_for(link.front, "the dispatcher's front attached")
        front = front_of(link)
        outbox = GateOutbox()
        assert front.request_session(SessionOpen(session_request(outbox, KEY_A), NODE_A, DESC, ""))
        wait_for(lambda: outbox.sent, "node A's first frame")
        sid = str(decode(outbox.sent[0]).body["session_id"])

        def reported() -> NodeTLSInfo | None:
            node = store.view(lambda tx: nodes.get(tx, NODE_A))
            return node.description.tls_info if node and node.description else None

        wait_for(lambda: reported() == OLD, "the session request's report stored")
        front.heartbeat(NODE_A, sid, KEY_A, NEW)
        wait_for(lambda: reported() == NEW, "the heartbeat's report stored")
    finally:
        ref.stop()
