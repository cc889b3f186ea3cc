"""Sizes and counts of spec and node fields (api/spec_limits.py): each limit is refused one
past it and accepted at it, with a message naming the field and the sizes. Before these
limits only the service name had a length; a node reported any hostname it liked."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from api.limits import MAX_SPEC_BYTES
from api.objects import EngineDescription, NodeDescription, Platform
from api.spec_limits import (
    MAX_ARG_BYTES,
    MAX_ARGS,
    MAX_ENV,
    MAX_HOSTNAME_BYTES,
    MAX_IMAGE_CHARS,
    MAX_LABEL_KEY_BYTES,
    MAX_LABEL_VALUE_BYTES,
    MAX_LABELS,
    MAX_NAME_CHARS,
)
from api.specs import ClusterSpec, ContainerSpec, NodeSpec, ServiceSpec, TaskSpec
from api.validation import (
    InvalidSpec,
    validate_cluster_spec,
    validate_hostname,
    validate_labels,
    validate_node_description,
    validate_node_spec,
    validate_service_spec,
)


def spec(name: str = "web", **container: Any) -> ServiceSpec:
    c = ContainerSpec(image=container.pop("image", "busybox"), **container)
    return ServiceSpec(name=name, task=TaskSpec(container=c))


def refused(fn: Any, *args: Any) -> InvalidSpec:
    with pytest.raises(InvalidSpec) as err:
        fn(*args)
    return err.value


def test_an_eight_mebibyte_hostname_is_refused_in_a_node_description() -> None:
    err = refused(validate_node_description, NodeDescription(hostname="h" * (8 << 20)))
    assert err.field == "description.hostname"
    assert "8 MiB" in str(err) and f"limit of {MAX_HOSTNAME_BYTES} bytes" in str(err)


def test_hostname_is_limited_to_the_kernels_host_name_max() -> None:
    validate_hostname("h" * MAX_HOSTNAME_BYTES)
    assert refused(validate_hostname, "h" * (MAX_HOSTNAME_BYTES + 1)).field == "hostname"
    assert "whitespace" in str(refused(validate_hostname, "my host"))
    assert "whitespace" in str(refused(validate_hostname, "host\x00"))
    err = refused(validate_service_spec, spec(hostname="h" * 65))
    assert err.field == "task.container.hostname"


def test_a_node_description_is_bounded_field_by_field_and_as_a_whole() -> None:
    ok = NodeDescription(hostname="box", platform=Platform("linux", "x86_64"))
    validate_node_description(ok)
    long_os = replace(ok, platform=Platform("l" * 65, "x86_64"))
    assert refused(validate_node_description, long_os).field == "description.platform.os"
    many = {f"k{i}": "v" for i in range(MAX_LABELS + 1)}
    engine = replace(ok, engine=EngineDescription("27.0", many))
    err = refused(validate_node_description, engine)
    assert err.field == "description.engine.labels"
    assert f"{MAX_LABELS + 1} items, over the limit of {MAX_LABELS}" in str(err)


@pytest.mark.parametrize(
    ("labels", "field", "what"),
    [
        ({"k" * (MAX_LABEL_KEY_BYTES + 1): "v"}, "labels", "label key"),
        ({"k": "v" * (MAX_LABEL_VALUE_BYTES + 1)}, "labels.k", "over the limit of 4096 bytes"),
        ({f"k{i}": "" for i in range(MAX_LABELS + 1)}, "labels", "items, over the limit"),
    ],
)
def test_label_keys_values_and_counts(labels: dict[str, str], field: str, what: str) -> None:
    err = refused(validate_labels, labels)
    assert err.field == field and what in str(err)
    # the same rule for service, node and cluster labels
    assert refused(validate_service_spec, replace(spec(), labels=labels)).field == field
    assert refused(validate_node_spec, NodeSpec(labels=labels)).field == field
    assert refused(validate_cluster_spec, ClusterSpec(labels=labels)).field == field
    validate_labels({"k" * MAX_LABEL_KEY_BYTES: "v" * MAX_LABEL_VALUE_BYTES})


def test_env_entries_and_counts() -> None:
    err = refused(validate_service_spec, spec(env=("K=" + "v" * MAX_ARG_BYTES,)))
    assert err.field == "task.container.env[0]"
    assert f"{MAX_ARG_BYTES + 2} bytes long, over the limit of {MAX_ARG_BYTES} bytes" in str(err)
    err = refused(validate_service_spec, spec(env=tuple(f"K{i}=v" for i in range(MAX_ENV + 1))))
    assert err.field == "task.container.env"
    validate_service_spec(spec(env=("K=" + "v" * (MAX_ARG_BYTES - 2),)))


@pytest.mark.parametrize("name", ["command", "args"])
def test_command_and_args_counts_and_sizes(name: str) -> None:
    err = refused(validate_service_spec, spec(**{name: tuple("a" for _ in range(MAX_ARGS + 1))}))
    assert err.field == f"task.container.{name}"
    err = refused(validate_service_spec, spec(**{name: ("a" * (MAX_ARG_BYTES + 1),)}))
    assert err.field == f"task.container.{name}[0]"


def test_names_and_images() -> None:
    validate_service_spec(spec(name="a" * MAX_NAME_CHARS))
    err = refused(validate_service_spec, spec(name="a" * (8 << 20)))
    assert err.field == "name" and len(str(err)) < 300  # the message does not echo 8 MiB
    err = refused(validate_service_spec, spec(image="i" * (MAX_IMAGE_CHARS + 1)))
    assert err.field == "task.container.image"
    assert refused(validate_cluster_spec, ClusterSpec(name="c" * 64)).field == "name"


def test_a_spec_must_encode_within_its_budget() -> None:
    """Every field within its limit, the whole over the spec budget: refused as a whole,
    naming the service and both sizes."""
    env = tuple(f"K{i}=" + "v" * (MAX_ARG_BYTES - 16) for i in range(5))
    err = refused(validate_service_spec, spec(name="big", env=env))
    assert err.field == "spec"
    assert re.search(
        rf"service 'big' encodes to 160\.\d KiB, over the {MAX_SPEC_BYTES // 1024} KiB "
        "budget of one spec",
        str(err),
    )
