"""What changes with a request's Engine API version (actors/engine_api/compat.py), as
dockerd changes it between 1.41 and 1.50."""

from __future__ import annotations

import re
from typing import Any

import pytest

from actors.engine_api.compat import (
    adjust_service_spec,
    check_templating,
    list_status,
    logs_content_type,
)
from actors.engine_api.errors import EngineError
from actors.engine_api.log_frames import log_frame, parse_log_query
from actors.engine_api.networks import docker_network, network_spec
from actors.engine_api.service_doc import docker_spec
from actors.engine_api.service_spec import from_docker_spec
from actors.engine_api.versions import API_VERSION, at_least
from api.specs import ContainerSpec, GlobalJob, ServiceSpec, TaskSpec


def spec_doc(**container: Any) -> dict[str, Any]:
    return {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", **container}},
        "Mode": {"Replicated": {"Replicas": 1}},
    }


def test_versions_compare_as_numbers() -> None:
    assert API_VERSION == "1.50"
    assert at_least("1.50", "1.46") and at_least("1.46", "1.46")
    assert not at_least("1.41", "1.46") and at_least("1.100", "1.50")


def test_oom_score_adj_is_set_from_146() -> None:
    created = from_docker_spec(adjust_service_spec(spec_doc(OomScoreAdj=100), "1.46"))
    assert created.task.container.oom_score_adj == 100
    with pytest.raises(EngineError) as refused:
        adjust_service_spec(spec_doc(OomScoreAdj=100), "1.41")
    assert refused.value.status == 400
    assert "TaskTemplate.ContainerSpec.OomScoreAdj needs API version 1.46" in refused.value.message
    assert "at 1.41" in refused.value.message
    # the CLI's zero, for a flag it was not given, is no value
    assert from_docker_spec(adjust_service_spec(spec_doc(OomScoreAdj=0), "1.41")) is not None


def test_an_older_client_keeps_what_it_cannot_see() -> None:
    """dockerd drops the field, resetting it; here the service keeps its value whether
    the client sends back what it read or leaves it out, and a change is refused."""
    base = ServiceSpec(
        name="web", task=TaskSpec(container=ContainerSpec(image="busybox", oom_score_adj=300))
    )
    current = docker_spec(base)
    echoed = adjust_service_spec(current, "1.41", current)
    assert from_docker_spec(echoed, base=base).task.container.oom_score_adj == 300
    left_out = spec_doc()
    kept = from_docker_spec(adjust_service_spec(left_out, "1.41", current), base=base)
    assert kept.task.container.oom_score_adj == 300
    assert "OomScoreAdj" not in left_out["TaskTemplate"]["ContainerSpec"]  # not changed
    with pytest.raises(EngineError, match=re.escape("OomScoreAdj needs API version 1.46")):
        adjust_service_spec(spec_doc(OomScoreAdj=5), "1.41", current)
    # at 1.46 the client sees it: leaving it out takes it off, as on Docker
    cleared = from_docker_spec(adjust_service_spec(left_out, "1.46", current), base=base)
    assert cleared.task.container.oom_score_adj == 0


def test_fields_of_141_and_140_by_version() -> None:
    doc = spec_doc(CapabilityAdd=["NET_ADMIN"], Sysctls={"net.core.somaxconn": "1"})
    assert adjust_service_spec(doc, "1.41") == doc
    with pytest.raises(EngineError, match=re.escape("CapabilityAdd needs API version 1.41")):
        adjust_service_spec(doc, "1.40")
    with pytest.raises(EngineError, match=re.escape("Sysctls needs API version 1.40")):
        adjust_service_spec(spec_doc(Sysctls={"a": "b"}), "1.39")
    job = {**spec_doc(), "Mode": {"GlobalJob": {}}}
    with pytest.raises(EngineError, match=re.escape("Mode.GlobalJob needs API version 1.41")):
        adjust_service_spec(job, "1.40")
    # an update of a job by an older client: its mode stays (the key is the mode)
    current = docker_spec(ServiceSpec(name="web", mode=GlobalJob()))
    assert adjust_service_spec(current, "1.40", current)["Mode"] == {"GlobalJob": {}}
    assert adjust_service_spec({**spec_doc(), "Mode": {}}, "1.40", current)["Mode"] == {
        "GlobalJob": {}
    }


def test_a_key_of_another_case_is_settled_too() -> None:
    doc = {"Name": "w", "taskTemplate": {"containerSpec": {"Image": "b", "oomScoreAdj": 7}}}
    current = docker_spec(ServiceSpec(name="w"))
    with pytest.raises(EngineError, match="OomScoreAdj"):
        adjust_service_spec(doc, "1.45", current)
    same = {"Name": "w", "taskTemplate": {"containerSpec": {"Image": "b", "oomScoreAdj": 0}}}
    adjusted = adjust_service_spec(same, "1.45", current)
    assert adjusted["taskTemplate"]["containerSpec"] == {"Image": "b"}


def test_list_status_and_log_content_types() -> None:
    assert list_status("1.41") and list_status("1.50") and not list_status("1.40")
    assert logs_content_type("1.50", tty=False) == "application/vnd.docker.multiplexed-stream"
    assert logs_content_type("1.41", tty=False) == "application/vnd.docker.raw-stream"
    assert logs_content_type("1.50", tty=True) == "application/vnd.docker.raw-stream"


def test_a_tty_services_lines_go_raw() -> None:
    query = parse_log_query({"stdout": "1", "timestamps": "1"})
    record = {"task_id": "t1", "ts": 1_700_000_000_000_000_001, "stream": "stdout", "data": b"hi"}
    raw = log_frame(query, record, {"task_id": "t1"}, raw=True)
    assert raw == b"2023-11-14T22:13:20.000000001Z hi\n"
    framed = log_frame(query, record, {"task_id": "t1"})
    assert framed is not None and framed[8:] == raw and framed[0] == 1


def test_networks_show_ipv4_from_148_and_refuse_going_without() -> None:
    row = {"id": "n1", "name": "front", "created_at": 1_700_000_000.0, "driver": "bridge"}
    assert docker_network(row, "1.48")["EnableIPv4"] is True
    assert "EnableIPv4" not in docker_network(row, "1.47")
    assert network_spec({"Name": "a", "EnableIPv4": True})["name"] == "a"
    with pytest.raises(EngineError, match="EnableIPv4 false") as refused:
        network_spec({"Name": "a", "EnableIPv4": False})
    assert refused.value.status == 501


def test_templating_needs_137() -> None:
    spec = {"Name": "s", "Data": "", "Templating": {"Name": "golang"}}
    check_templating("secret", "1.37", spec)
    check_templating("config", "1.30", {"Name": "c", "Data": ""})
    with pytest.raises(EngineError) as refused:
        check_templating("config", "1.36", spec)
    assert refused.value.status == 400
    assert refused.value.message == (
        "config templating is not supported on the specified API version: 1.36"
    )
