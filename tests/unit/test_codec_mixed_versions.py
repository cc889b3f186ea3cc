"""Frames between nodes of two versions (a rolling upgrade, README "Upgrading"): a newer
peer's body fields, and fields of the objects in it, are kept unread by the transport
(transport/codec.py) and skipped by the object codec; a user's control request is strict
and refuses a field it does not declare, naming it; an unknown type or protocol version
is refused either way."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgpack
import pytest

from actors.dispatcher.frame_packing import pack_frame
from actors.dispatcher.spec_tables import HeldSpecs, SentSpecs
from actors.dispatcher.wire import (
    SESSION,
    ManagerAddress,
    SessionFrame,
    encode_frame,
    encode_session_request,
    encode_status_updates,
    parse_frame,
    parse_session_request,
    parse_status_updates,
)
from api.codec_objects import encode as encode_value
from api.errors import BadEnvelope, BadField, UnknownMessageType
from api.objects import NodeDescription, TaskStatus
from api.schema.frame import PROTOCOL_VERSION
from api.task_state import TaskState
from tests.unit.dispatcher.helpers import NODE_A, task
from transport.codec import decode, encode


def _frame(message_type: str, body: dict[str, Any], **envelope: Any) -> bytes:
    """A frame as any peer may build it (not through ``encode``, which checks it)."""
    packed: bytes = msgpack.packb(
        {"v": PROTOCOL_VERSION, "t": message_type, "id": 3, "b": body, **envelope},
        use_bin_type=True,
    )
    return packed


def test_a_newer_managers_heartbeat_reply_decodes_with_its_new_fields_unread() -> None:
    body = {
        "period": 5.0,
        "frames": 2,
        "ca": {"issuer": "d1", "roots": ["d1"], "cross_signed_until": 9.0},
        "drain_deadline": 30.0,
    }
    envelope = decode(_frame("dispatcher.heartbeat.reply", body))
    assert envelope.body["period"] == 5.0 and envelope.body["ca"]["issuer"] == "d1"


def test_a_newer_managers_session_frame_gives_the_tasks_without_their_new_fields() -> None:
    tasks = (task("t1"), task("t2", state=TaskState.RUNNING))
    frame = SessionFrame("s1", 5.0, (ManagerAddress("tcp://10.0.0.1:4242", b"k" * 40),),
                         True, tasks, ())  # fmt: skip
    body = msgpack.unpackb(msgpack.packb(encode_frame(frame)), raw=False)
    body["volumes"] = [{"id": "v1"}]  # a body field this version does not declare
    body["managers"][0]["weight"] = 3  # and one in a declared Struct
    for item in body["tasks"]:
        item["restart_budget"] = 3
        item["spec"]["container"]["newer_option"] = 1
        item["status"]["health"] = "healthy"
    assert parse_frame(decode(_frame("dispatcher.session.message", body)).body) == frame


def test_a_newer_managers_frame_with_shared_specs_gives_the_tasks_without_new_fields() -> None:
    """The session of a node that keeps its specs: tasks name their spec by index (the
    referencing decoder's fast path takes only the shape it knows; the rest is decoded
    tolerant, each task with its spec's map)."""
    first = task("t1")
    second = replace(task("t2", state=TaskState.RUNNING), spec=first.spec)
    frame = SessionFrame("s1", 5.0, (), True, (first, second), ())
    body = msgpack.unpackb(pack_frame(frame, SentSpecs()), raw=False)
    body["specs"][0]["container"]["newer_option"] = 1
    body["tasks"][1]["restart_budget"] = 3
    parsed = parse_frame(decode(_frame("dispatcher.session.message", body)).body, HeldSpecs())
    assert parsed == frame
    assert parsed.tasks[0].spec is parsed.tasks[1].spec


def test_a_newer_workers_session_request_and_statuses_decode_without_their_new_fields() -> None:
    desc = NodeDescription(hostname="h")
    body = encode_session_request(NODE_A, desc)
    body["description"] = {**body["description"], "gpus": 2}
    body["compression"] = "zstd"
    assert parse_session_request(decode(_frame(SESSION, body)).body) == (NODE_A, desc)
    status = TaskStatus(state=TaskState.RUNNING, message="started")
    updates = encode_status_updates([("t1", status)])
    updates[0]["status"]["health"] = "starting"
    good, bad = parse_status_updates(updates)
    assert good == [("t1", status)] and bad == []


def test_a_control_request_with_a_field_it_does_not_declare_is_refused_naming_it() -> None:
    spec = {"name": "web", "task": {"container": {"image": "busybox"}}}
    assert decode(_frame("control.service.create", {"spec": spec})).body["spec"] == spec
    with pytest.raises(BadField, match='unknown field "detatch"'):
        decode(_frame("control.service.create", {"spec": spec, "detatch": True}))
    auth = {"server_address": "r", "username": "u", "password": "p", "email": "e"}
    with pytest.raises(BadField, match=r'unknown field "registry_auth\.email"'):
        decode(_frame("control.service.create", {"spec": spec, "registry_auth": auth}))
    with pytest.raises(BadField, match='unknown field "detatch"'):
        encode("control.service.create", {"spec": spec, "detatch": True})
    # a reply to a user is the cluster's: an older swarmctl reads a newer manager's
    reply = {"id": "x", "changed": True, "service": {}, "warnings": ["w"]}
    assert decode(_frame("control.service.reply", reply)).body["warnings"] == ["w"]


def test_an_unknown_message_type_or_protocol_version_is_refused() -> None:
    with pytest.raises(UnknownMessageType, match=r"dispatcher\.session\.resume"):
        decode(_frame("dispatcher.session.resume", {}))
    with pytest.raises(BadEnvelope, match="unsupported protocol version 2"):
        decode(_frame("dispatcher.heartbeat", {}, v=2))


def test_a_known_field_of_the_wrong_type_is_refused_from_a_newer_peer_too() -> None:
    with pytest.raises(BadField, match='field "period" has wrong type str'):
        decode(_frame("dispatcher.heartbeat.reply", {"period": "5", "extra": 1}))
    status = encode_value(TaskStatus(state=TaskState.RUNNING))
    status["health"] = "ok"
    status["message"] = 7
    good, bad = parse_status_updates([{"task_id": "t1", "status": status}])
    assert good == [] and "updates[0].status.message: expected a string" in bad[0][1]
