"""Which secrets and configs a session sends and drops: only those the node's assigned
tasks reference, while a task is at most RUNNING; each sent once, dropped when unused."""

from __future__ import annotations

from dataclasses import replace

from actors.dispatcher.assignments import AssignmentSet
from actors.dispatcher.dependencies import (
    CONFIG,
    SECRET,
    DependencyChanges,
    DependencyTracker,
    task_dependencies,
)
from actors.dispatcher.wire import SessionFrame, encode_frame, parse_frame, split_frame
from api.objects import Config, Secret, Task
from api.specs import ConfigReference, ConfigSpec, SecretReference, SecretSpec
from api.task_state import TaskState
from tests.unit.dispatcher.helpers import NODE_A, NODE_B, bump, status, task


def using(t: Task, secrets: tuple[str, ...] = (), configs: tuple[str, ...] = ()) -> Task:
    c = replace(
        t.spec.container,
        secrets=tuple(SecretReference(secret_id=s, secret_name=s, target=s) for s in secrets),
        configs=tuple(ConfigReference(config_id=c, config_name=c, target="/" + c) for c in configs),
    )
    return replace(t, spec=replace(t.spec, container=c))


def test_a_task_holds_what_it_references_until_past_running() -> None:
    t = using(task("t1"), ("s1", "s2"), ("c1",))
    assert task_dependencies(t) == {(SECRET, "s1"), (SECRET, "s2"), (CONFIG, "c1")}
    assert task_dependencies(replace(t, status=status(TaskState.RUNNING)))
    for done in (TaskState.COMPLETE, TaskState.FAILED, TaskState.SHUTDOWN, TaskState.REJECTED):
        assert task_dependencies(replace(t, status=status(done))) == frozenset()


def test_counted_per_task_and_diffed_against_what_was_sent() -> None:
    tracker = DependencyTracker()
    a, b = using(task("a"), ("s1",)), using(task("b"), ("s1", "s2"))
    tracker.hold(a)
    tracker.hold(b)
    assert tracker.take() == DependencyChanges(secrets=("s1", "s2"))
    assert tracker.take().empty
    tracker.release(b.id)  # s1 still held by a
    assert tracker.take() == DependencyChanges(secrets_removed=("s2",))
    tracker.hold(replace(a, status=status(TaskState.COMPLETE)))
    assert tracker.take() == DependencyChanges(secrets_removed=("s1",))
    # needed and released between two takes: never sent
    tracker.hold(using(task("c"), (), ("c1",)))
    tracker.release(task("c").id)
    assert tracker.take().empty


def test_the_full_set_carries_what_its_tasks_need() -> None:
    tasks = [
        using(task("t1"), ("s1",)),
        using(task("t2", state=TaskState.FAILED), ("s-old",)),
        using(task("t3", NODE_B), ("s-other-node",)),
        using(task("t4", state=TaskState.PENDING), ("s-unscheduled",)),
        using(task("t5"), (), ("c1",)),
    ]
    delta = AssignmentSet(NODE_A, 10, tasks).full()
    assert delta.dependencies == DependencyChanges(secrets=("s1",), configs=("c1",))


def test_changes_follow_the_tasks() -> None:
    s = AssignmentSet(NODE_A, 10, [])
    s.full()
    t = using(task("t1", version=11), ("s1",))
    s.observe_update(t, 11)
    delta = s.take()
    assert delta.tasks == (t,) and delta.dependencies.secrets == ("s1",)
    running = bump(t, 12, status=status(TaskState.RUNNING))
    s.observe_update(running, 12)
    assert s.take().empty  # the worker's own echo: nothing to send
    s.observe_update(bump(t, 13, status=status(TaskState.COMPLETE)), 13)
    delta = s.take()
    assert delta.tasks == () and delta.dependencies == DependencyChanges(secrets_removed=("s1",))
    # another node's task never reaches this set, nor its secrets
    s.observe_update(using(task("t9", NODE_B, version=14), ("s9",)), 14)
    assert s.take().empty
    # a deleted task drops what it held
    u = using(task("t2", version=15), (), ("c1",))
    s.observe_update(u, 15)
    assert s.take().dependencies.configs == ("c1",)
    s.observe_delete(u.id, 16)
    delta = s.take()
    assert delta.removed == (u.id,) and delta.dependencies.configs_removed == ("c1",)


def test_frames_carry_the_objects_and_old_frames_still_parse() -> None:
    secret = Secret(id="s1", spec=SecretSpec(name="pw", data=b"\x00secret"))
    config = Config(id="c1", spec=ConfigSpec(name="conf", data=b"x=1"))
    frame = SessionFrame(
        "sess", 1.0, (), False, (), (),
        secrets=(secret,), secrets_removed=("s0",), configs=(config,), configs_removed=("c0",),
    )  # fmt: skip
    assert parse_frame(encode_frame(frame)) == frame
    plain = encode_frame(SessionFrame("sess", 1.0, (), True, (), ()))
    assert not {"secrets", "configs", "secrets_removed", "configs_removed"} & set(plain)
    assert parse_frame(plain).secrets == ()


def test_a_frame_too_big_for_one_is_split() -> None:
    big = [Secret(id=f"s{i}", spec=SecretSpec(name=f"s{i}", data=b"x" * 400)) for i in range(5)]
    conf = Config(id="c1", spec=ConfigSpec(name="c", data=b"y" * 300))
    t = task("t1")
    frame = SessionFrame(
        "sess", 1.0, (), True, (t,), ("gone",),
        secrets=tuple(big), secrets_removed=("s-old",), configs=(conf,),
    )  # fmt: skip
    assert split_frame(frame, budget=10_000) == [frame]
    parts = split_frame(frame, budget=1000)
    assert [len(p.secrets) + len(p.configs) for p in parts] == [2, 2, 2]
    first, *rest = parts
    assert first.full and first.tasks == (t,) and first.removed == ("gone",)
    assert first.secrets_removed == ("s-old",)
    for p in rest:
        assert not p.full and p.tasks == () and p.removed == () and p.secrets_removed == ()
    assert [s for p in parts for s in p.secrets] == big
    assert [c for p in parts for c in p.configs] == [conf]
