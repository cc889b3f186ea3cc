"""A full set in parts, assembled before the node acts on it (actors/worker/set_assembly.py):
all or nothing, and a set whose parts break the rules is refused, the parts held dropped."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.dispatcher.networks_and_auth import ServiceAuth
from actors.dispatcher.wire import MAX_SET_PARTS, ManagerAddress, SessionFrame
from actors.worker.session_calls import SessionEnded
from actors.worker.set_assembly import SetAssembly, SetRefused
from api.objects import Network, RegistryAuth
from api.specs import NetworkSpec
from tests.unit.dispatcher.helpers import task

MANAGERS = (ManagerAddress("tcp://10.0.0.1:4242", b"k" * 40),)
NET = Network(id="n" * 25, spec=NetworkSpec(name="backend"))
AUTH = ServiceAuth("svc", RegistryAuth("127.0.0.1:5000", "u", "p"))


def parts_of(count: int, session: str = "s1", per_part: int = 3) -> list[SessionFrame]:
    """A full set as a manager cuts it: the head in part 0, tasks in every part, each
    with the network and credentials its tasks need."""
    return [
        SessionFrame(
            session,
            5.0,
            MANAGERS if i == 0 else (),
            True,
            tuple(task(f"p{i}t{j}") for j in range(per_part)),
            (),
            networks=(NET,),
            registry_auths=(AUTH,),
            role="worker" if i == 0 else None,
            part=i,
            parts=count,
        )
        for i in range(count)
    ]


def test_a_set_is_handed_on_only_whole_with_every_parts_tasks_in_order() -> None:
    parts = parts_of(4)
    assembly = SetAssembly()
    assert [assembly.take(p) for p in parts[:-1]] == [None, None, None]
    assert assembly.held == 3
    whole = assembly.take(parts[-1])
    assert whole is not None and assembly.held == 0
    assert whole.tasks == tuple(t for p in parts for t in p.tasks)
    assert (whole.full, whole.managers, whole.role, whole.parts) == (True, MANAGERS, "worker", 4)
    assert (whole.networks, whole.registry_auths) == ((NET,), (AUTH,))  # once each


def test_a_frame_that_is_no_part_is_handed_on_as_it_is() -> None:
    frame = SessionFrame("s1", 5.0, (), False, (task("t1"),), ("t0",))
    assert SetAssembly().take(frame) is frame


@pytest.mark.parametrize(
    ("order", "what"),
    [
        ([0, 2], "part 2 of 4 came while part 1 was due"),  # one missing
        ([0, 1, 1], "part 1 of 4 came while part 2 was due"),  # one twice
        ([1], "part 1 of 4 came while part 0 was due"),  # the set's start missing
    ],
)
def test_a_part_out_of_order_or_missing_is_refused_and_the_parts_held_dropped(
    order: list[int], what: str
) -> None:
    parts = parts_of(4)
    assembly = SetAssembly()
    with pytest.raises(SetRefused, match=what) as refused:
        for i in order:
            assert assembly.take(parts[i]) is None
    assert assembly.held == 0
    assert isinstance(refused.value, SessionEnded)  # the session ends: a fresh full set
    assert "a new session brings a fresh full set" in str(refused.value)


def test_a_frame_in_the_middle_of_a_set_is_refused() -> None:
    assembly = SetAssembly()
    assembly.take(parts_of(3)[0])
    changes = SessionFrame("s1", 5.0, (), False, (task("t1"),), ())
    with pytest.raises(SetRefused, match="a frame that is no part came after part 0"):
        assembly.take(changes)
    with pytest.raises(SetRefused, match="came while part 1 of 3 was due"):
        fresh = SetAssembly()
        fresh.take(parts_of(3)[0])
        fresh.take(parts_of(5)[1])  # a part of another set


def test_a_part_of_another_session_is_refused() -> None:
    assembly = SetAssembly()
    assembly.take(parts_of(3)[0])
    with pytest.raises(SetRefused):
        assembly.take(parts_of(3, session="s2")[1])


def test_a_set_of_more_parts_than_a_node_takes_is_refused_at_its_first_part() -> None:
    assembly = SetAssembly()
    (first,) = parts_of(MAX_SET_PARTS + 1, per_part=0)[:1]
    with pytest.raises(SetRefused, match=rf"a set in {MAX_SET_PARTS + 1} parts"):
        assembly.take(first)
    assert assembly.held == 0
    assert SetAssembly(max_parts=2).take(parts_of(2)[0]) is None


def test_a_part_of_a_frame_of_changes_is_refused() -> None:
    part = replace(parts_of(2)[0], full=False)
    with pytest.raises(SetRefused, match="part 0 of 2 of a frame of changes"):
        SetAssembly().take(part)
