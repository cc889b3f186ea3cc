"""The session frame's body (actors/dispatcher/wire.py): objects through the codec and
back, validated by transport."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from actors.dispatcher.frame_packing import pack_frame
from actors.dispatcher.spec_tables import HeldSpecs, SentSpecs
from actors.dispatcher.wire import (
    ManagerAddress,
    SessionFrame,
    encode_frame,
    parse_frame,
    split_frame,
)
from api.codec_objects import ObjectDecodeError, encode_object
from api.codec_objects import encode as encode_value
from api.task_state import TaskState
from tests.unit.dispatcher.helpers import task
from transport.codec import decode, encode


def test_session_frame_round_trips_through_the_wire_codec() -> None:
    frame = SessionFrame(
        session_id="s1",
        heartbeat_period=4.9,
        managers=(ManagerAddress("tcp://10.0.0.1:4242", b"k" * 40),),
        full=True,
        tasks=(task("t1"), task("t2", state=TaskState.RUNNING)),
        removed=("t0",),
    )
    wire = encode("dispatcher.session.message", encode_frame(frame), request_id=7, more=True)
    envelope = decode(wire)
    assert envelope.more
    assert parse_frame(envelope.body) == frame


def test_a_packed_frame_is_the_map_encode_frame_makes() -> None:
    """pack_frame (what a session sends) and encode_frame give the same body: tasks of
    two services, each spec packed once, and every optional part of a frame."""
    t1, t2 = task("t1"), task("t2", state=TaskState.RUNNING)
    other = replace(t2, id="t3", spec=replace(t2.spec, force_update=3))
    frames = [
        SessionFrame("s1", 4.9, (ManagerAddress("tcp://10.0.0.1:4242", b"k" * 40),), True,
                     (t1, t2, other), ("t0",)),
        SessionFrame("s1", 5.0, (), False, (), (), closed="heartbeat failure"),
        SessionFrame("s1", 5.0, (), False, (t1,), (), secrets_removed=("x",), ingress=()),
        SessionFrame("s1", 5.0, (), False, (), (), role="worker"),
    ]  # fmt: skip
    for frame in frames:
        wire = encode("dispatcher.session.message", pack_frame(frame), request_id=7, more=True)
        body = decode(wire).body
        assert body == encode_frame(frame)
        assert parse_frame(body) == frame
    again = pack_frame(frames[0])  # the specs' packing held, the same bytes
    assert again == pack_frame(frames[0])


def test_closing_frame_names_its_reason() -> None:
    frame = SessionFrame("s1", 5.0, (), False, (), (), closed="heartbeat failure")
    envelope = decode(encode("dispatcher.session.message", encode_frame(frame), request_id=7))
    assert parse_frame(envelope.body).closed == "heartbeat failure"


def test_frame_carries_networks_and_credentials() -> None:
    from actors.dispatcher.networks_and_auth import ServiceAuth
    from api.objects import Network, RegistryAuth
    from api.specs import NetworkSpec

    frame = SessionFrame(
        "s1",
        5.0,
        (),
        False,
        (task("t1"),),
        (),
        networks=(Network(id="n" * 25, spec=NetworkSpec(name="backend")),),
        registry_auths=(ServiceAuth("svc", RegistryAuth("127.0.0.1:5000", "u", "p")),),
    )
    envelope = decode(encode("dispatcher.session.message", encode_frame(frame), request_id=7))
    assert parse_frame(envelope.body) == frame
    plain = SessionFrame("s1", 5.0, (), False, (), ())
    assert "networks" not in encode_frame(plain) and "registry_auths" not in encode_frame(plain)


def test_a_split_frame_carries_networks_and_credentials_once_with_the_tasks() -> None:
    from actors.dispatcher.networks_and_auth import ServiceAuth
    from api.objects import Network, RegistryAuth, Secret
    from api.specs import NetworkSpec, SecretSpec

    network = Network(id="n" * 25, spec=NetworkSpec(name="backend"))
    auth = ServiceAuth("svc", RegistryAuth("127.0.0.1:5000", "u", "p"))
    big = tuple(Secret(id=f"s{i}", spec=SecretSpec(name=f"s{i}", data=b"x" * 400)) for i in "abc")
    frame = SessionFrame(
        "s1", 5.0, (), True, (task("t1"),), (),
        networks=(network,), registry_auths=(auth,), secrets=big,
    )  # fmt: skip
    first, *rest = split_frame(frame, budget=500)
    assert rest and first.networks == (network,) and first.registry_auths == (auth,)
    assert all(p.networks == () and p.registry_auths == () for p in rest)


def test_tasks_sharing_a_spec_are_encoded_as_each_alone() -> None:
    first = task("t1")
    second = replace(task("t2", state=TaskState.RUNNING), spec=first.spec)
    other = task("t3")  # a spec of its own, equal or not
    frame = SessionFrame("s1", 5.0, (), True, (first, second, other), ())
    for _ in range(2):  # the second time from the held encodings
        body = encode_frame(frame)
        assert body["tasks"] == [encode_object(t) for t in (first, second, other)]


def shared_frame(frame: SessionFrame, sent: SentSpecs | None = None) -> dict[str, Any]:
    """What a node that keeps its session's specs receives: ``frame`` packed with them."""
    packed = pack_frame(frame, sent if sent is not None else SentSpecs())
    return decode(encode("dispatcher.session.message", packed, request_id=7)).body


def test_a_sessions_frames_carry_each_spec_once() -> None:
    """Tasks of two specs (one shared by two tasks, by identity, as the store shares a
    service's spec): the first frame carries each spec once from base 0, the tasks their
    index; the next frame carries only the spec the node lacks. The node decodes the
    same tasks, those of one spec sharing one decoded spec."""
    first = task("t1")
    second = replace(task("t2", state=TaskState.RUNNING), spec=first.spec)
    other = replace(task("t3"), spec=replace(first.spec, force_update=3))
    managers = (ManagerAddress("tcp://10.0.0.1:4242", b"k" * 40),)
    tasks = (first, second, other)
    frame = SessionFrame("s1", 4.9, managers, True, tasks, ("t0",), secrets_removed=("x",))
    sent, held = SentSpecs(), HeldSpecs()
    body = shared_frame(frame, sent)
    assert body["specs_base"] == 0
    assert body["specs"] == [encode_value(first.spec), encode_value(other.spec)]
    assert [t["spec"] for t in body["tasks"]] == [0, 0, 1]
    assert {k: v for k, v in body.items() if k not in ("tasks", "specs", "specs_base")} == {
        k: v for k, v in encode_frame(frame).items() if k != "tasks"
    }
    parsed = parse_frame(body, held)
    assert parsed == frame
    assert parsed.tasks[0].spec is parsed.tasks[1].spec

    third = replace(task("t4"), spec=replace(first.spec, force_update=4))
    later = SessionFrame("s1", 4.9, (), False, (replace(first, id="t5"), third), ())
    body = shared_frame(later, sent)
    assert body["specs_base"] == 2 and body["specs"] == [encode_value(third.spec)]
    assert [t["spec"] for t in body["tasks"]] == [0, 2]
    assert parse_frame(body, held) == later and len(held.specs) == 3

    empty = SessionFrame("s1", 5.0, (), False, (), ("t1",))
    body = shared_frame(empty, sent)
    assert "specs" not in body and "specs_base" not in body
    assert parse_frame(body, held) == empty and len(held.specs) == 3


def test_a_frame_out_of_step_with_the_nodes_specs_is_named() -> None:
    sent = SentSpecs()
    one = shared_frame(SessionFrame("s1", 5.0, (), True, (task("t1"),), ()), sent)
    other = replace(task("t2"), spec=replace(task("t2").spec, force_update=1))
    two = shared_frame(SessionFrame("s1", 5.0, (), False, (other,), ()), sent)
    assert two["specs_base"] == 1
    with pytest.raises(ObjectDecodeError, match=r"specs_base: .* at 1; this node holds 0"):
        parse_frame(two, HeldSpecs())  # the node missed the first frame
    held = HeldSpecs(limit=1)
    parse_frame(one, held)
    with pytest.raises(ObjectDecodeError, match=r"specs: .* more than 1 specs"):
        parse_frame(two, held)


@pytest.mark.parametrize(
    ("ref", "why"),
    [(2, "got 2"), (-1, "got -1"), (True, "got True"), ("0", "got '0'"), (None, "got None")],
)
def test_a_task_naming_no_spec_of_the_node_is_named(ref: Any, why: str) -> None:
    t1, t2 = task("t1"), task("t2")
    t2 = replace(t2, spec=replace(t2.spec, force_update=1))
    body = shared_frame(SessionFrame("s1", 5.0, (), True, (t1, t2), ()))
    body["tasks"][1]["spec"] = ref
    with pytest.raises(ObjectDecodeError, match=rf"tasks\[1\]\.spec.*2 specs, {why}"):
        parse_frame(body)


def test_a_bad_field_of_a_task_with_a_shared_spec_is_named() -> None:
    body = shared_frame(SessionFrame("s1", 5.0, (), True, (task("t1"), task("t2")), ()))
    body["tasks"][1]["desired_state"] = "nonsense"
    with pytest.raises(ObjectDecodeError, match=r"tasks\[1\]\.desired_state"):
        parse_frame(body)
    body = shared_frame(SessionFrame("s1", 5.0, (), True, (task("t1"),), ()))
    body["specs"][0]["force_update"] = "nonsense"  # a field it does not know is skipped
    with pytest.raises(ObjectDecodeError, match=r"specs\[0\]\.force_update"):
        parse_frame(body)


def test_a_task_with_a_shared_spec_may_leave_fields_to_their_defaults() -> None:
    """Off the fast path (a field absent, as an encoder of another version may write it),
    the task still decodes, with its spec."""
    t1 = task("t1")
    body = shared_frame(SessionFrame("s1", 5.0, (), True, (t1,), ()))
    del body["tasks"][0]["service_name"]
    assert parse_frame(body).tasks == (replace(t1, service_name=""),)


def test_the_other_bodies_names_are_importable_from_wire_as_they_were() -> None:
    from actors.dispatcher import session_request, status_updates, wire

    for module in (session_request, status_updates):
        for name in module.__all__:
            assert name in wire.__all__ and getattr(wire, name) is getattr(module, name)
