"""The Engine API takes a service's templates as Docker sends them (api/templates.py):
stored as written, checked as any spec, expanded on the node."""

from __future__ import annotations

from actors.engine_api.service_spec import from_docker_spec
from api.validation import validate_service_spec


def test_docker_s_own_spec_with_templates_is_taken_as_written() -> None:
    """What ``docker service create --hostname ... --mount ...`` sends the Engine API."""
    doc = {
        "Name": "web",
        "Labels": {"tier": "front"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox",
                "Hostname": "{{.Node.Hostname}}-{{.Task.Slot}}",
                "Env": ['TIER={{index .Service.Labels "tier"}}'],
                "Mounts": [{"Type": "volume", "Source": "data-{{.Task.Slot}}", "Target": "/data"}],
            }
        },
    }
    spec = from_docker_spec(doc)
    validate_service_spec(spec)
    assert spec.task.container.hostname == "{{.Node.Hostname}}-{{.Task.Slot}}"
    assert spec.task.container.mounts[0].source == "data-{{.Task.Slot}}"
