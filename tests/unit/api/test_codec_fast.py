"""The decoders' fast path accepts exactly what the path-naming decoders accept and builds
equal values, in both modes (strict: an unknown field is refused; tolerant: skipped):
every object kind, encoded, then one place of it broken (a key dropped or added, a value
replaced by one of another type), decoded both ways."""

from __future__ import annotations

import dataclasses
import random
import typing
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.codec_fast import Invalid, fast_decoder_for, field_types, referencing_decoder, union_args
from api.codec_objects import (
    ObjectDecodeError,
    _decoder_for,
    decode_all,
    decode_object,
    encode_object,
)
from api.objects import OBJECT_TYPES, ObjectKind, Task
from api.specs import ContainerSpec, DNSConfig, TaskSpec, Ulimit
from tests.unit.api.strategies import strategy_for

# values of every type the encoding uses, to put where another type belongs
SUBSTITUTES: tuple[Any, ...] = (None, 0, -1, 1.5, "", "x", True, b"b", [], [1], {}, {"k": 1})


def places(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value inside ``doc`` (dict keys and list indexes)."""
    found = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += places(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += places(v, (*path, i))
    return found


def broken(doc: Any, rng: random.Random) -> Any:
    """A copy of ``doc`` with one place changed."""
    doc = msgpack.unpackb(msgpack.packb(doc))
    path = rng.choice(places(doc))
    if not path:
        return rng.choice(SUBSTITUTES)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    roll = rng.random()
    if isinstance(parent, dict) and roll < 0.25:
        del parent[last]
    elif isinstance(parent, dict) and roll < 0.4:
        parent["no_such_field"] = 1
    else:
        parent[last] = rng.choice(SUBSTITUTES)
    return doc


def both(kind: ObjectKind, doc: Any, strict: bool = True) -> tuple[Any, Any]:
    """(fast result or Invalid, path-naming result or its ObjectDecodeError)."""
    cls = OBJECT_TYPES[kind]
    try:
        fast: Any = fast_decoder_for(cls, strict=strict)(doc)
    except Invalid as exc:
        fast = exc
    try:
        slow: Any = _decoder_for(cls, strict)(doc, kind.value)
    except ObjectDecodeError as exc:
        slow = exc
    return fast, slow


def with_unknown_field(cls: type, doc: Any, rng: random.Random) -> tuple[Any, tuple[Any, ...]]:
    """A copy of ``doc`` (a ``cls``) with a field no class has added to one of its maps
    that decode as a dataclass, and that map's path."""
    doc = msgpack.unpackb(msgpack.packb(doc))
    path = rng.choice(dataclass_maps(cls, doc))
    target = doc
    for step in path:
        target = target[step]
    target["added_by_a_newer_version"] = {"nested": [1, "two"]}
    return doc, path


def dataclass_maps(tp: Any, doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths in ``doc`` (a ``tp`` encoded) of the maps that decode as a dataclass (not
    a label map, whose keys are data, nor a tagged union's map of one key)."""
    args = union_args(tp)
    if args is not None:
        members = [a for a in args if a is not type(None)]
        if doc is None:
            return []
        if len(members) == 1:
            return dataclass_maps(members[0], doc, path)
        ((tag, body),) = doc.items()
        member = next(m for m in members if tag == m.TAG)
        return dataclass_maps(member, body, (*path, tag))
    found: list[tuple[Any, ...]] = []
    if dataclasses.is_dataclass(tp):
        found.append(path)
        for f, t in field_types(tp):  # type: ignore[arg-type]
            found += dataclass_maps(t, doc[f.name], (*path, f.name))
    elif typing.get_origin(tp) is tuple:
        for i, item in enumerate(doc):
            found += dataclass_maps(typing.get_args(tp)[0], item, (*path, i))
    elif typing.get_origin(tp) in (dict, Mapping):
        for k, item in doc.items():
            found += dataclass_maps(typing.get_args(tp)[1], item, (*path, k))
    return found


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "tolerant"])
@pytest.mark.parametrize("kind", list(ObjectKind))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_the_fast_path_agrees_with_the_path_naming_decoders(
    kind: ObjectKind, strict: bool, data: st.DataObject, seed: int
) -> None:
    obj = data.draw(strategy_for(OBJECT_TYPES[kind]))
    rng = random.Random(seed)
    doc = encode_object(obj)
    assert both(kind, doc, strict) == (obj, obj)
    for _ in range(5):
        fast, slow = both(kind, broken(doc, rng), strict)
        if isinstance(slow, ObjectDecodeError):
            assert isinstance(fast, Invalid), (slow, fast)
        else:
            assert fast == slow


@pytest.mark.parametrize("kind", list(ObjectKind))
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_a_field_a_newer_version_added_anywhere_is_skipped_tolerant_and_refused_strict(
    kind: ObjectKind, data: st.DataObject, seed: int
) -> None:
    """An object as a newer version writes it (a field more, at the top or in any map
    nested in it): the tolerant decoders build the object without it, both ways; the
    strict ones refuse it, the path-naming one naming the field."""
    obj = data.draw(strategy_for(OBJECT_TYPES[kind]))
    newer, path = with_unknown_field(OBJECT_TYPES[kind], encode_object(obj), random.Random(seed))
    assert both(kind, newer, strict=False) == (obj, obj)
    fast, slow = both(kind, newer, strict=True)
    assert isinstance(fast, Invalid) and isinstance(slow, ObjectDecodeError)
    assert slow.field.endswith("added_by_a_newer_version"), (slow, path)
    assert slow.reason.startswith("unknown field of ")


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "tolerant"])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_a_referencing_decoder_takes_what_the_path_naming_decoder_takes(
    strict: bool, data: st.DataObject, seed: int
) -> None:
    """A task whose spec is an index into a table decodes as the task with the table's
    spec. Broken in one place, it is taken exactly when the path-naming decoder takes it
    with the spec's map in place of a good index (a field left out takes its default; a
    key more is refused or skipped, by ``strict``), and holds the table's spec."""
    task_by_spec_index = referencing_decoder(Task, "spec", strict=strict)
    path_naming = _decoder_for(Task, strict)
    task = data.draw(strategy_for(Task))
    table = (task.spec,)
    doc = encode_object(task)
    spec_doc = doc["spec"]
    doc["spec"] = 0
    decoded = task_by_spec_index(doc, table)
    assert decoded == task and decoded.spec is task.spec
    rng = random.Random(seed)
    for _ in range(5):
        bad = broken(doc, rng)
        try:
            taken: Any = task_by_spec_index(bad, table)
        except Invalid:
            taken = None
        good_index = isinstance(bad, dict) and type(bad.get("spec")) is int and bad["spec"] == 0
        if taken is not None:
            assert good_index and taken.spec is task.spec
            assert taken == path_naming({**bad, "spec": spec_doc}, "task")
        elif good_index:
            with pytest.raises(ObjectDecodeError):
                path_naming({**bad, "spec": spec_doc}, "task")
    with pytest.raises(Invalid):
        task_by_spec_index(doc, ())
    del doc["spec"]  # the index is required, though a task's spec has a default
    with pytest.raises(Invalid):
        task_by_spec_index(doc, table)


def test_decode_names_the_field_after_the_fast_path_fails() -> None:
    doc = encode_object(Task(id="t" * 25))
    doc["status"]["message"] = 7
    with pytest.raises(ObjectDecodeError, match=r"task\.status\.message: expected a string"):
        decode_object(ObjectKind.TASK, doc)


def test_decode_all_decodes_a_list_and_names_the_element_that_fails() -> None:
    tasks = [Task(id="a" * 25), Task(id="b" * 25)]
    docs = [encode_object(t) for t in tasks]
    assert decode_all(Task, docs, "tasks", strict=True) == tuple(tasks)
    assert decode_all(Task, [], "tasks", strict=True) == ()
    docs[1]["spec"]["container"]["newer"] = 1
    assert decode_all(Task, docs, "tasks", strict=False) == tuple(tasks)
    with pytest.raises(ObjectDecodeError, match=r"tasks\[1\]\.spec\.container\.newer"):
        decode_all(Task, docs, "tasks", strict=True)
    docs[1]["slot"] = "x"
    with pytest.raises(ObjectDecodeError, match=r"tasks\[1\]\.slot"):
        decode_all(Task, docs, "tasks", strict=False)


def test_an_object_built_as_its_twin_is_its_class_frozen_and_whole() -> None:
    from dataclasses import FrozenInstanceError, dataclass, fields

    from api.codec_build import _twin
    from api.codec_objects import encode
    from api.objects import Meta, TaskStatus

    status = TaskStatus(timestamp=1.5, message="started", started_at=2.5)
    built = fast_decoder_for(TaskStatus, strict=True)(encode(status))
    assert type(built) is TaskStatus and built == status
    assert all(getattr(built, f.name) == getattr(status, f.name) for f in fields(TaskStatus))
    with pytest.raises(FrozenInstanceError):
        built.message = "x"  # type: ignore[misc]
    assert _twin(Meta) is not None and _twin(Meta).__slots__ == Meta.__slots__  # type: ignore[union-attr]

    @dataclass(frozen=True)
    class NoSlots:
        a: int = 0

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int = 0

        def __post_init__(self) -> None:
            pass

    for cls in (NoSlots, Checked):  # built by their __init__
        assert _twin(cls) is None
        assert fast_decoder_for(cls, strict=True)({"a": 3}) == cls(3)
        assert fast_decoder_for(cls, strict=False)({"a": 3, "b": 4}) == cls(3)


@settings(max_examples=40, deadline=None)
@given(container=strategy_for(ContainerSpec), seed=st.integers(0, 2**32))
def test_the_fast_path_agrees_on_every_place_of_the_container_options(
    container: ContainerSpec, seed: int
) -> None:
    """The container's kernel-facing options (flags, ulimits, sysctls, DNS, hosts),
    always given, each place of them broken in turn."""
    rng = random.Random(seed)
    container = replace(
        container,
        read_only=True,
        ulimits=(*container.ulimits, Ulimit("nofile", 1, 2)),
        sysctls={**container.sysctls, "net.core.somaxconn": "1"},
        dns_config=DNSConfig(("10.0.0.2",), ("example.com",), ("ndots:2",)),
        hosts=("10.0.0.9 db",),
    )
    task = Task(id="t", spec=TaskSpec(container=container))
    doc = encode_object(task)
    assert both(ObjectKind.TASK, doc) == (task, task)
    options = doc["spec"]["container"]
    for key in ("read_only", "init", "tty", "groups", "cap_add", "ulimits", "sysctls"):
        for value in (*SUBSTITUTES, rng.choice(SUBSTITUTES)):
            changed = {**doc, "spec": {**doc["spec"], "container": {**options, key: value}}}
            fast, slow = both(ObjectKind.TASK, changed)
            if isinstance(slow, ObjectDecodeError):
                assert isinstance(fast, Invalid), (key, value, slow, fast)
            else:
                assert fast == slow
    for _ in range(10):  # anywhere inside the options, the nested ones included
        inner = broken(options, rng)
        changed = {**doc, "spec": {**doc["spec"], "container": inner}}
        fast, slow = both(ObjectKind.TASK, changed)
        if isinstance(slow, ObjectDecodeError):
            assert isinstance(fast, Invalid), (slow, fast)
        else:
            assert fast == slow
    # a task stored before the options existed decodes with their defaults
    old = {k: v for k, v in options.items() if k not in ("read_only", "ulimits", "dns_config")}
    older = {**doc, "spec": {**doc["spec"], "container": old}}
    expected = replace(
        task,
        spec=TaskSpec(
            container=replace(container, read_only=False, ulimits=(), dns_config=DNSConfig())
        ),
    )
    assert both(ObjectKind.TASK, older) == (expected, expected)
