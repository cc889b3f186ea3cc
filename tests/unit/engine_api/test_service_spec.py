"""Docker's ServiceSpec JSON ↔ ours (actors/engine_api/service_spec.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from actors.engine_api.errors import EngineError
from actors.engine_api.service_doc import docker_spec
from actors.engine_api.service_spec import from_docker_spec
from api.enums import RebalanceMode, SchedulingStrategy
from api.service_options import apply_options
from api.specs import (
    Dependency,
    DNSConfig,
    GlobalService,
    ReplicatedJob,
    ServiceSpec,
    Ulimit,
    VolumeDriver,
    VolumeOptions,
)

# what `docker service create --name web --replicas 2 --env A=1 IMAGE sleep 60` sends
CLI_CREATE: dict[str, Any] = {
    "Name": "web",
    "Labels": {},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "busybox",
            "Args": ["sleep", "60"],
            "Env": ["A=1"],
            "Init": False,
            "DNSConfig": {},
            "Isolation": "default",
        },
        "Resources": {"Limits": {}, "Reservations": {}},
        "Placement": {},
        "ForceUpdate": 0,
    },
    "Mode": {"Replicated": {"Replicas": 2}},
    "UpdateConfig": {
        "Parallelism": 1,
        "FailureAction": "pause",
        "Monitor": 5_000_000_000,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    },
    "EndpointSpec": {"Mode": "vip"},
}


def full_spec() -> ServiceSpec:
    return apply_options(
        ServiceSpec(name="web"),
        {
            "image": "busybox",
            "args": ["sleep", "60"],
            "env": ["A=1"],
            "labels": {"tier": "front"},
            "container_labels": {"c": "d"},
            "replicas": 3,
            "constraints": ["node.role==manager"],
            "placement_prefs": ["spread=node.labels.zone"],
            "replicas_max_per_node": 2,
            "reserve_cpu": 250_000_000,
            "limit_memory": 64 * 1024 * 1024,
            "restart_condition": "on-failure",
            "restart_delay": 1.5,
            "restart_max_attempts": 3,
            "update_parallelism": 2,
            "update_delay": 0.25,
            "update_order": "start-first",
            "update_failure_action": "rollback",
            "health_cmd": "true",
            "health_interval": 2.0,
            "stop_signal": "SIGINT",
            "stop_grace_period": 3.0,
            "user": "nobody",
            "workdir": "/tmp",
            "hostname": "h",
            "secrets": ["source=pw,target=pw.txt,mode=0400"],
            "configs": ["source=cf,target=/etc/cf"],
        },
    )


def test_the_clis_create_body() -> None:
    spec = from_docker_spec(CLI_CREATE)
    assert spec.name == "web"
    assert spec.mode.replicas == 2  # type: ignore[union-attr]
    assert spec.task.container.args == ("sleep", "60")
    assert spec.task.container.env == ("A=1",)
    assert spec.task.container.stop_grace_period == 10.0  # not sent: our default
    assert spec.update_config.monitor == 5.0


def test_round_trip_keeps_every_field() -> None:
    spec = full_spec()
    assert from_docker_spec(docker_spec(spec)) == spec


def test_an_update_keeps_swarmnodes_own_fields() -> None:
    current = replace(
        full_spec(),
        depends_on=(Dependency(service="db"),),
        rebalance=RebalanceMode.AUTO,
    )
    current = replace(
        current,
        task=replace(
            current.task,
            placement=replace(current.task.placement, strategy=SchedulingStrategy.BINPACK),
        ),
    )
    sent = docker_spec(current)
    sent["Mode"]["Replicated"]["Replicas"] = 5
    updated = from_docker_spec(sent, base=current)
    assert updated.depends_on == current.depends_on
    assert updated.rebalance is RebalanceMode.AUTO
    assert updated.task.placement.strategy is SchedulingStrategy.BINPACK
    assert updated.mode.replicas == 5  # type: ignore[union-attr]


def test_the_healthcheck_goes_under_dockerds_key() -> None:
    """dockerd writes ``Healthcheck`` (its Go field), as the docker SDK reads and sends it."""
    spec = full_spec()
    container = docker_spec(spec)["TaskTemplate"]["ContainerSpec"]
    assert container["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert "HealthCheck" not in container
    sdk = {"Name": "h", "TaskTemplate": {"ContainerSpec": {"Healthcheck": {"Test": ["NONE"]}}}}
    assert from_docker_spec(sdk).task.container.healthcheck.test == ("NONE",)  # type: ignore[union-attr]


def test_modes_and_loose_key_case() -> None:
    assert isinstance(from_docker_spec({"Name": "g", "Mode": {"Global": {}}}).mode, GlobalService)
    job = from_docker_spec({"Name": "j", "Mode": {"ReplicatedJob": {"MaxConcurrent": 2}}}).mode
    assert job == ReplicatedJob(max_concurrent=2, total_completions=2)
    # the docker SDK writes {"replicated": {"Replicas": n}}: Go's decoder takes any case
    sdk = from_docker_spec({"name": "s", "mode": {"replicated": {"replicas": 4}}})
    assert (sdk.name, sdk.mode.replicas) == ("s", 4)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "value", "status", "words"),
    [
        (("TaskTemplate", "ContainerSpec", "OpenStdin"), True, 501, "ContainerSpec.OpenStdin"),
        (
            ("TaskTemplate", "ContainerSpec", "Privileges"),
            {"NoNewPrivileges": True},
            501,
            "ContainerSpec.Privileges",
        ),
        (("TaskTemplate", "ContainerSpec", "TTY"), "yes", 400, "ContainerSpec.TTY: expected true"),
        (
            ("TaskTemplate", "ContainerSpec", "Ulimits"),
            [{"Name": "nofile", "Soft": "1"}],
            400,
            "ContainerSpec.Ulimits[0].Soft: expected an integer",
        ),
        (
            ("TaskTemplate", "ContainerSpec", "DNSConfig"),
            {"Nameservers": "1.1.1.1"},
            400,
            "ContainerSpec.DNSConfig.Nameservers: expected a list",
        ),
        (
            ("TaskTemplate", "ContainerSpec", "Mounts"),
            [{"Type": "bind", "Target": "/y", "BindOptions": {"Propagation": "rshared"}}],
            501,
            "Mounts[0].BindOptions",
        ),
        (
            ("TaskTemplate", "Networks"),
            [{"Target": "n", "DriverOpts": {"a": "b"}}],
            501,
            "DriverOpts",
        ),
        (("TaskTemplate", "ContainerSpec", "Isolation"), "hyperv", 501, "Isolation"),
        (("TaskTemplate", "LogDriver"), {"Options": {"a": 5}}, 400, "LogDriver.Options"),
        (("TaskTemplate", "LogDriver"), {"Name": 5}, 400, "LogDriver.Name: expected a string"),
        (("TaskTemplate", "Resources", "Reservations"), {"Pids": 5}, 501, "Reservations.Pids"),
        (("TaskTemplate", "Resources", "Limits"), {"Pids": "5"}, 400, "Limits.Pids"),
        (("TaskTemplate", "ContainerSpec", "OomScoreAdj"), 1.5, 400, "OomScoreAdj"),
        (("TaskTemplate", "Placement", "Platforms"), [{"OS": "linux"}], 501, "Platforms"),
        # newer than 1.41: a health check's start interval (1.44), image mounts (1.48)
        (
            ("TaskTemplate", "ContainerSpec", "Healthcheck"),
            {"Test": ["CMD", "true"], "StartInterval": 1_000_000_000},
            501,
            "Healthcheck.StartInterval",
        ),
        (
            ("TaskTemplate", "ContainerSpec", "Mounts"),
            [{"Type": "image", "Source": "busybox", "Target": "/img"}],
            501,
            "Mounts[0].Type 'image'",
        ),
        (
            ("TaskTemplate", "ContainerSpec", "Mounts"),
            [{"Type": "volume", "Target": "/v", "ImageOptions": {"Subpath": "a"}}],
            501,
            "Mounts[0].ImageOptions",
        ),
        (
            ("TaskTemplate", "ContainerSpec", "Privileges"),
            {"Seccomp": {"Mode": "unconfined"}, "NoNewPrivileges": True},
            501,
            "Privileges",
        ),
        (("TaskTemplate", "RestartPolicy", "Condition"), "never", 400, "Condition"),
        (("TaskTemplate", "RestartPolicy", "Delay"), "5s", 400, "nanoseconds"),
        (("EndpointSpec", "Mode"), "VIP", 400, 'invalid resolution mode: "VIP"'),
        (("Mode",), {"Replicated": {}, "Global": {}}, 400, "exactly one mode"),
        (("Mode",), {"Elastic": {}}, 400, "unknown mode"),
        (("TaskTemplate", "ContainerSpec", "Env"), "A=1", 400, "ContainerSpec.Env"),
    ],
)
def test_what_we_cannot_honour_is_refused_by_name(
    path: tuple[str, ...], value: Any, status: int, words: str
) -> None:
    doc: dict[str, Any] = {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}, "Placement": {}},
    }
    target = doc
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    with pytest.raises(EngineError) as refused:
        from_docker_spec(doc)
    assert refused.value.status == status
    assert words in refused.value.message


def test_mounts_networks_and_ports() -> None:
    doc: dict[str, Any] = {
        "Name": "db",
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox",
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": "data",
                        "Target": "/data",
                        "VolumeOptions": {"NoCopy": False, "Labels": {}},
                    },
                    {"Type": "tmpfs", "Target": "/scratch", "ReadOnly": True},
                ],
            },
            "Networks": [{"Target": "backend", "Aliases": ["database"]}],
        },
        "EndpointSpec": {
            "Ports": [
                {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}
            ]
        },
    }
    spec = from_docker_spec(doc)
    assert [(m.type.value, m.source, m.target, m.readonly) for m in spec.task.container.mounts] == [
        ("volume", "data", "/data", False),
        ("tmpfs", "", "/scratch", True),
    ]
    assert [(n.target, n.aliases) for n in spec.task.networks] == [("backend", ("database",))]
    assert [
        (p.target_port, p.published_port, p.publish_mode.value) for p in spec.endpoint.ports
    ] == [(80, 8080, "host")]
    assert from_docker_spec(docker_spec(spec)) == spec
    # a mount option swarmnode cannot honour is refused by name
    doc["TaskTemplate"]["ContainerSpec"]["Mounts"][1]["TmpfsOptions"] = {"SizeBytes": 1024}
    with pytest.raises(EngineError, match=r"Mounts\[1\]\.TmpfsOptions"):
        from_docker_spec(doc)


def test_volume_options_both_ways() -> None:
    volume_options = {
        "NoCopy": True,
        "Labels": {"com.docker.stack.namespace": "app"},
        "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}},
    }
    mount = {"Type": "volume", "Source": "scratch", "Target": "/d", "VolumeOptions": volume_options}
    doc: dict[str, Any] = {
        "Name": "db",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Mounts": [mount]}},
    }
    spec = from_docker_spec(doc)
    assert spec.task.container.mounts[0].volume_options == VolumeOptions(
        nocopy=True,
        labels={"com.docker.stack.namespace": "app"},
        driver=VolumeDriver("local", {"type": "tmpfs", "device": "tmpfs"}),
    )
    (back,) = docker_spec(spec)["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert back["VolumeOptions"] == volume_options
    assert from_docker_spec(docker_spec(spec)) == spec
    for bad, where in [
        ({"NoCopy": "yes"}, "VolumeOptions.NoCopy"),
        ({"Labels": {"a": 1}}, "VolumeOptions.Labels"),
        ({"DriverConfig": {"Name": 7}}, "VolumeOptions.DriverConfig.Name"),
        ({"DriverConfig": {"Options": ["type=tmpfs"]}}, "VolumeOptions.DriverConfig.Options"),
        ({"Subpath": "sub"}, "VolumeOptions.Subpath"),
    ]:
        mount["VolumeOptions"] = bad
        with pytest.raises(EngineError, match=rf"Mounts\[0\]\.{where}"):
            from_docker_spec(doc)


def test_a_secret_target_may_be_absolute_under_run_secrets() -> None:
    """Docker takes ``--secret source=pw,target=/run/secrets/pw``: the file ours names
    ``pw``; another absolute path stays for the control API to refuse."""

    def target(name: str) -> str:
        ref = {"SecretName": "pw", "File": {"Name": name, "UID": "0", "GID": "0", "Mode": 292}}
        doc = {**CLI_CREATE, "TaskTemplate": {"ContainerSpec": {"Image": "b", "Secrets": [ref]}}}
        [secret] = from_docker_spec(doc).task.container.secrets
        return secret.target

    assert target("/run/secrets/pw") == "pw"
    assert target("/run/secrets/app/pw") == "app/pw"
    assert target("pw") == "pw"
    assert target("/etc/pw") == "/etc/pw"


def test_container_options_both_ways() -> None:
    doc: dict[str, Any] = {
        "Name": "web",
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox",
                "ReadOnly": True,
                "Init": True,
                "TTY": True,
                "Groups": ["audio"],
                "CapabilityAdd": ["NET_ADMIN"],
                "CapabilityDrop": ["CAP_NET_RAW"],
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                "Sysctls": {"net.core.somaxconn": "1024"},
                "DNSConfig": {"Nameservers": ["10.0.0.2"], "Search": ["example.com"]},
                "Hosts": ["10.0.0.9 db"],
            }
        },
    }
    spec = from_docker_spec(doc)
    c = spec.task.container
    assert (c.read_only, c.init, c.tty, c.groups) == (True, True, True, ("audio",))
    assert (c.cap_add, c.cap_drop) == (("CAP_NET_ADMIN",), ("CAP_NET_RAW",))
    assert c.ulimits == (Ulimit("nofile", 1024, 2048),)
    assert c.sysctls == {"net.core.somaxconn": "1024"}
    assert c.dns_config == DNSConfig(("10.0.0.2",), ("example.com",), ())
    assert c.hosts == ("10.0.0.9 db",)
    back = docker_spec(spec)["TaskTemplate"]["ContainerSpec"]
    assert back["CapabilityAdd"] == ["CAP_NET_ADMIN"]
    assert back["DNSConfig"] == {"Nameservers": ["10.0.0.2"], "Search": ["example.com"]}
    assert from_docker_spec(docker_spec(spec)) == spec
    # unset: left out, as Docker's omitempty fields; null Init is unset
    plain = docker_spec(
        from_docker_spec(
            {"Name": "p", "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Init": None}}}
        )
    )["TaskTemplate"]["ContainerSpec"]
    assert not {"ReadOnly", "Init", "TTY", "Ulimits", "DNSConfig", "Hosts"} & set(plain)
