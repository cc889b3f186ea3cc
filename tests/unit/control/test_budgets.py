"""The control API refuses writes over their budgets with one clear line: a spec over the
spec budget (the service named, both sizes), a label over its limit, and a store write
over its byte budget (``too_large``). Before the budgets all of them were written."""

from __future__ import annotations

import re

import pytest

from actors.control import ControlCode, ControlError, call
from actors.control.errors import error_of
from actors.store import TooLarge
from api.codec_objects import encode
from api.specs import ContainerSpec, ServiceSpec, TaskSpec
from tests.unit.control.helpers import Cluster


def refused(fn: object, body: dict[str, object]) -> ControlError:
    with pytest.raises(ControlError) as info:
        call(fn, body)  # type: ignore[arg-type]
    return info.value


def test_a_service_spec_over_its_budget_is_refused_naming_it() -> None:
    c = Cluster()
    before = c.store.version
    env = tuple(f"K{i}=" + "v" * 30_000 for i in range(5))
    spec = ServiceSpec(name="big", task=TaskSpec(container=ContainerSpec("busybox", env=env)))
    err = refused(c.services.create, {"spec": encode(spec)})
    assert err.code == ControlCode.INVALID_SPEC
    assert re.search(r"service 'big' encodes to \d+\.\d KiB, over the 128 KiB budget", err.message)
    assert c.store.version == before


def test_a_node_label_over_its_limit_is_refused() -> None:
    c = Cluster()
    node_id = c.add_node("box")
    before = c.store.version
    err = refused(c.nodes.update, {"node": node_id, "label_add": {"k": "v" * 5000}})
    assert err.code == ControlCode.INVALID_SPEC
    assert "labels.k: 5000 bytes long, over the limit of 4096 bytes" in err.message
    assert c.store.version == before


def test_a_store_write_over_its_budget_is_answered_too_large() -> None:
    err = error_of(TooLarge("service abc", 3 << 20, 1 << 19, "one object"))
    assert err is not None and err.code == ControlCode.TOO_LARGE
    assert err.message == (
        "service abc encodes to 3 MiB, over the 512 KiB budget of one object; nothing was written"
    )
