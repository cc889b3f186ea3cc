"""Our `ServiceSpec` → Docker's ServiceSpec JSON (pure), what ``service inspect`` and
``service ls`` show; service_spec.py reads it back (``from_docker_spec(docker_spec(s))``
gives ``s``). Durations in nanoseconds, as Docker's.
"""

from __future__ import annotations

from typing import Any

from actors.engine_api.container_doc import docker_container_options
from actors.engine_api.mount_doc import docker_mounts
from actors.engine_api.wire import to_ns
from api.specs import (
    ContainerSpec,
    GlobalService,
    HealthConfig,
    PortConfig,
    ReplicatedJob,
    ReplicatedService,
    Resources,
    ServiceMode,
    ServiceSpec,
    UpdateConfig,
)

__all__ = ["docker_ports", "docker_spec"]


def _docker_health(health: HealthConfig | None) -> dict[str, Any] | None:
    if health is None:
        return None
    return {
        "Test": list(health.test),
        "Interval": to_ns(health.interval),
        "Timeout": to_ns(health.timeout),
        "Retries": health.retries,
        "StartPeriod": to_ns(health.start_period),
    }


def _docker_file(target: str, uid: int, gid: int, mode: int) -> dict[str, Any]:
    return {"Name": target, "UID": str(uid), "GID": str(gid), "Mode": mode}


def _docker_container(c: ContainerSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Image": c.image,
        "Labels": dict(c.labels),
        "Command": list(c.command),
        "Args": list(c.args),
        "Hostname": c.hostname,
        "Env": list(c.env),
        "Dir": c.dir,
        "User": c.user,
        "StopSignal": c.stop_signal,
        "StopGracePeriod": to_ns(c.stop_grace_period),
        "Isolation": "default",
        "Mounts": docker_mounts(c.mounts),
        "Secrets": [
            {
                "File": _docker_file(s.target or s.secret_name, s.uid, s.gid, s.mode),
                "SecretID": s.secret_id,
                "SecretName": s.secret_name,
            }
            for s in c.secrets
        ],
        "Configs": [
            {
                "File": _docker_file(r.target or f"/{r.config_name}", r.uid, r.gid, r.mode),
                "ConfigID": r.config_id,
                "ConfigName": r.config_name,
            }
            for r in c.configs
        ],
    }
    health = _docker_health(c.healthcheck)
    if health is not None:
        doc["Healthcheck"] = health  # dockerd's key (its Go field's name)
    doc.update(docker_container_options(c))
    return doc


def _docker_resources(r: Resources, pids: int = 0) -> dict[str, Any]:
    doc: dict[str, Any] = {"NanoCPUs": r.nano_cpus, "MemoryBytes": r.memory_bytes}
    if pids:  # Docker's Limits.Pids (omitempty) is SwarmKit's ContainerSpec.PidsLimit
        doc["Pids"] = pids
    return doc


def _docker_update(u: UpdateConfig) -> dict[str, Any]:
    return {
        "Parallelism": u.parallelism,
        "Delay": to_ns(u.delay),
        "FailureAction": u.failure_action.value,
        "Monitor": to_ns(u.monitor),
        "MaxFailureRatio": u.max_failure_ratio,
        "Order": u.order.value,
    }


def _docker_mode(mode: ServiceMode) -> dict[str, Any]:
    if isinstance(mode, ReplicatedService):
        return {"Replicated": {"Replicas": mode.replicas}}
    if isinstance(mode, GlobalService):
        return {"Global": {}}
    if isinstance(mode, ReplicatedJob):
        return {
            "ReplicatedJob": {
                "MaxConcurrent": mode.max_concurrent,
                "TotalCompletions": mode.total_completions,
            }
        }
    return {"GlobalJob": {}}


def docker_ports(ports: tuple[PortConfig, ...]) -> list[dict[str, Any]]:
    return [
        {
            **({"Name": p.name} if p.name else {}),
            "Protocol": p.protocol.value,
            "TargetPort": p.target_port,
            "PublishedPort": p.published_port,
            "PublishMode": p.publish_mode.value,
        }
        for p in ports
    ]


def docker_spec(spec: ServiceSpec) -> dict[str, Any]:
    """Our spec → Docker's ServiceSpec JSON; ``from_docker_spec`` of it gives it back."""
    task = spec.task
    placement = task.placement
    doc: dict[str, Any] = {
        "Name": spec.name,
        "Labels": dict(spec.labels),
        "TaskTemplate": {
            "ContainerSpec": _docker_container(task.container),
            "Resources": {
                "Limits": _docker_resources(task.resources.limits, task.container.pids_limit),
                "Reservations": _docker_resources(task.resources.reservations),
            },
            "RestartPolicy": {
                "Condition": task.restart_policy.condition.value,
                "Delay": to_ns(task.restart_policy.delay),
                "MaxAttempts": task.restart_policy.max_attempts,
                "Window": to_ns(task.restart_policy.window),
            },
            "Placement": {
                "Constraints": list(placement.constraints),
                "Preferences": [
                    {"Spread": {"SpreadDescriptor": p.spread}} for p in placement.preferences
                ],
                "MaxReplicas": placement.max_replicas,
            },
            "ForceUpdate": task.force_update,
            "Runtime": "container",
            "Networks": [{"Target": n.target, "Aliases": list(n.aliases)} for n in task.networks],
        },
        "Mode": _docker_mode(spec.mode),
        "UpdateConfig": _docker_update(spec.update_config),
        "RollbackConfig": _docker_update(spec.rollback_config),
        "EndpointSpec": {
            "Mode": spec.endpoint.mode.value,
            "Ports": docker_ports(spec.endpoint.ports),
        },
    }
    if task.log_driver is not None:
        driver = task.log_driver
        doc["TaskTemplate"]["LogDriver"] = {"Name": driver.name, "Options": dict(driver.options)}
    return doc
