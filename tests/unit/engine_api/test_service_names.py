"""The name Docker gives a service created without one (actors/engine_api/service_names.py)."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Mapping
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from actors.engine_api import services
from actors.engine_api.app import ENGINE, Engine
from actors.engine_api.control import ControlCaller
from actors.engine_api.errors import EngineError
from actors.engine_api.service_names import random_service_name
from actors.http import HttpServer
from api.specs import ContainerSpec, ServiceSpec, TaskSpec
from api.validation import validate_service_spec

DOCKER_SHAPE = re.compile(r"[a-z]+_[a-z]+")


def test_names_have_dockers_shape_and_pass_our_validation() -> None:
    rng = random.Random(3)
    names = {random_service_name(rng) for _ in range(200)}
    assert len(names) > 100  # many words on both sides
    for name in names:
        assert DOCKER_SHAPE.fullmatch(name), name
        task = TaskSpec(container=ContainerSpec(image="busybox"))
        validate_service_spec(ServiceSpec(name=name, task=task))


def test_a_retry_adds_a_digit() -> None:
    name = random_service_name(random.Random(1), attempt=1)
    assert re.fullmatch(r"[a-z]+_[a-z]+[0-9]", name), name


class NamesInUse:
    """A control API where the first ``taken`` service names asked for are in use."""

    def __init__(self, taken: int) -> None:
        self.taken = taken
        self.names: list[str] = []

    async def call(self, type_: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        assert type_ == "control.service.create" and body is not None
        self.names.append(body["spec"]["name"])
        if len(self.names) <= self.taken:
            raise EngineError.of_control("name_conflict", "service name is already in use")
        return {"id": "s" * 25}


def create(control: NamesInUse, doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> int:
    """``POST /services/create`` of ``doc`` against ``control``: the answer's status."""
    app = web.Application()
    app[ENGINE] = Engine(cast(ControlCaller, control), cast(HttpServer, None))

    async def body(_request: web.Request, _what: str) -> Any:
        return doc

    monkeypatch.setattr(services, "json_body", body)
    request = make_mocked_request("POST", "/services/create", app=app)
    return asyncio.run(services.service_create(request)).status


def test_an_unnamed_service_takes_another_name_when_one_is_in_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unnamed: dict[str, Any] = {"TaskTemplate": {"ContainerSpec": {"Image": "i"}}}
    control = NamesInUse(taken=1)
    assert create(control, unnamed, monkeypatch) == 201
    first, second = control.names
    assert DOCKER_SHAPE.fullmatch(first) and re.fullmatch(r"[a-z]+_[a-z]+[0-9]", second)
    # a name the client gave is never replaced: its conflict is the client's answer
    named = NamesInUse(taken=1)
    with pytest.raises(EngineError) as refused:
        create(named, {**unnamed, "Name": "web"}, monkeypatch)
    assert refused.value.status == 409 and named.names == ["web"]
    # and the tries are bounded
    always = NamesInUse(taken=99)
    with pytest.raises(EngineError):
        create(always, unnamed, monkeypatch)
    assert len(always.names) == services.NAME_ATTEMPTS
