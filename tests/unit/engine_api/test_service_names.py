"""The name Docker gives a service created without one (actors/engine_api/service_names.py)."""

from __future__ import annotations

import random
import re

from actors.engine_api.service_names import random_service_name
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
