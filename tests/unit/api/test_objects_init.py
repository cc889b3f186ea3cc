"""api/objects_init.py: the object model's classes are built by a faster ``__init__`` that
behaves as the frozen dataclass's own (same parameters, defaults, fresh factory values).

Fails before: the module did not exist (each class had the dataclass ``__init__``)."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

import api.objects as objects
from api.objects import Task, TaskStatus
from api.objects_init import fast_init
from api.task_state import TaskState

MODEL = [
    v
    for v in vars(objects).values()
    if isinstance(v, type) and dataclasses.is_dataclass(v) and v.__module__ == objects.__name__
]


def test_every_dataclass_of_the_object_model_has_the_fast_init() -> None:
    assert len(MODEL) > 20
    for cls in MODEL:
        assert "set_0" in cls.__init__.__code__.co_names, cls  # type: ignore[misc]


@pytest.mark.parametrize("cls", MODEL, ids=lambda c: c.__name__)
def test_defaults_are_those_of_the_fields_and_factories_run_per_object(cls: type) -> None:
    required = {
        f.name: _example(f.type)
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    one, two = cls(**required), cls(**required)
    assert one == two
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            assert getattr(one, f.name) == f.default
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(one, f.name) == f.default_factory()
            if isinstance(getattr(one, f.name), dict):
                assert getattr(one, f.name) is not getattr(two, f.name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(one, dataclasses.fields(cls)[0].name, None)


def _example(tp: object) -> object:
    return {"str": "x", "int": 1, "float": 1.0}.get(str(tp), "x")


def test_positional_and_keyword_arguments_land_in_their_fields() -> None:
    status = TaskStatus(2.0, TaskState.RUNNING, "started", started_at=3.0)
    assert (status.timestamp, status.state, status.message, status.started_at) == (
        2.0,
        TaskState.RUNNING,
        "started",
        3.0,
    )
    task = dataclasses.replace(Task("t"), node_id="n", status=status)
    assert task.node_id == "n" and task.status is status and task.id == "t"
    assert str(inspect.signature(Task)).startswith("(id, meta=<factory>, spec=<factory>")
    with pytest.raises(TypeError):
        Task()  # type: ignore[call-arg]


def test_classes_it_cannot_serve_keep_their_init() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    @dataclass(slots=True)
    class Mutable:
        items: list[int] = field(default_factory=list)

    before = (Checked.__init__, Mutable.__init__)
    assert (fast_init(Checked).__init__, fast_init(Mutable).__init__) == before
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)
