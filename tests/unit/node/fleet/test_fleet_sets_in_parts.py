"""A fleet node takes a full set in parts as the agent does (actors/worker/set_assembly.py):
nothing applied before the last part, every part counted against the frames the manager
streamed, and a set whose parts break the rules ends the session."""

from __future__ import annotations

from typing import Any

from actors.dispatcher.wire import SessionFrame, encode_frame
from actors.node.fleet.session import Connect, Disconnect, Phase, Send
from actors.worker.session_calls import Call
from api.objects import Task
from api.task_state import TaskState
from tests.unit.node.fleet.test_fleet_session import M1, M2, opened, sends, session
from tests.unit.worker.helpers import make_task


def parts(*tasks_per_part: tuple[Task, ...], full: bool = True) -> list[dict[str, Any]]:
    count = len(tasks_per_part)
    return [
        encode_frame(
            SessionFrame(
                "s1", 2.0, (M1, M2) if i == 0 else (), full, tasks, (), part=i, parts=count
            )
        )
        for i, tasks in enumerate(tasks_per_part)
    ]


def test_a_first_set_in_parts_opens_the_session_once_whole() -> None:
    s = session()
    effects = s.poll(0.0)
    assert effects[0] == Connect(M1) and isinstance(effects[1], Send)
    first, second, last = parts((make_task("t1"),), (make_task("t2"),), (make_task("t3"),))
    assert s.on_frame(4.0, first, wall=1000.0) == []
    assert s.phase is Phase.OPENING and len(s.tasks) == 0
    assert s.next_wakeup() == 9.0  # the next part within the connect timeout of this one
    s.on_frame(8.0, second, wall=1000.0)
    assert s.poll(9.0) == [] and s.next_wakeup() == 13.0
    s.on_frame(9.5, last, wall=1000.0)
    assert s.phase is Phase.OPEN and len(s.tasks) == 3
    # the heartbeat: three frames streamed, three received (the parts each)
    sends(s.poll(11.5), Call.HEARTBEAT)
    s.on_reply(11.6, Call.HEARTBEAT, {"period": 2.0, "frames": 3})
    sends(s.poll(13.6), Call.HEARTBEAT)
    assert s.phase is Phase.OPEN and s.ends == {}


def test_the_next_part_not_in_time_ends_the_attempt() -> None:
    s = session()
    s.poll(0.0)
    s.on_frame(1.0, parts((make_task("t1"),), (make_task("t2"),))[0], wall=1000.0)
    effects = s.poll(6.0)
    assert isinstance(effects[0], Disconnect) and s.phase is Phase.WAITING


def test_a_later_set_in_parts_shuts_down_nothing_its_first_part_lacks() -> None:
    held = tuple(make_task(f"t{i}") for i in range(3))
    s = opened(session(), tasks=held)
    first, last = parts(held[:1], held[1:])
    s.on_frame(1.0, first, wall=1001.0)
    assert {t.id for t in s.tasks.running()} == {"t0", "t1", "t2"}
    assert all(state < TaskState.SHUTDOWN for state in s.tasks.counts())
    s.on_frame(1.1, last, wall=1001.0)
    assert {t.id for t in s.tasks.running()} == {"t0", "t1", "t2"}
    assert s.frames_received == 3


def test_parts_out_of_order_end_the_session_for_a_fresh_set() -> None:
    s = opened(session(), tasks=(make_task("t1"),))
    first, _, last = parts((make_task("t1"),), (), ())
    s.on_frame(1.0, first, wall=1001.0)
    effects = s.on_frame(1.1, last, wall=1001.0)
    assert isinstance(effects[0], Disconnect) and s.phase is Phase.WAITING
    assert "part 2 of 3 came while part 1 was due" in s.last_end
    assert len(s.tasks) == 1  # nothing of the broken set applied
    assert s.poll(s.next_wakeup())[0] == Connect(M2)  # a new session: a fresh full set
