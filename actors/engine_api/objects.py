"""Our control API's replies → the Engine API's JSON objects (pure).

Nodes, services, tasks, secrets, configs and the swarm, in the shapes of Docker's
api/swagger.yaml (v1.41): ``ID``, ``Version.Index`` (our ``meta.version``: a write that
names it is refused when stale, as Docker's), ``CreatedAt``/``UpdatedAt`` and ``Spec``.
Never a key, a token beyond the join tokens ``/swarm`` shows a manager, nor a secret's data.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final

from actors.engine_api.cert_info import node_tls_info, swarm_tls_info
from actors.engine_api.service_doc import docker_ports, docker_spec
from actors.engine_api.wire import rfc3339, to_ns
from api.codec_objects import decode
from api.specs import GlobalJob, PortConfig, ReplicatedJob, ServiceSpec
from api.task_state import TaskState

__all__ = [
    "ca_cert_of",
    "docker_config",
    "docker_node",
    "docker_secret",
    "docker_service",
    "docker_swarm",
    "docker_task",
    "root_pems_of",
    "rotation_cert_of",
    "service_spec_of",
]

Doc = Mapping[str, Any]

# how the scheduler's message of a task it cannot place begins (actors/scheduler/filters.py)
NO_SUITABLE_NODE: Final = "no suitable node"


def _meta(doc: Doc) -> dict[str, Any]:
    meta = doc.get("meta") or {}
    return {
        "ID": doc["id"],
        "Version": {"Index": int(meta.get("version", 0))},
        "CreatedAt": rfc3339(meta.get("created_at")),
        "UpdatedAt": rfc3339(meta.get("updated_at")),
    }


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value or "")


# -- nodes ------------------------------------------------------------------------------


def docker_node(doc: Doc, roots: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A node document (actors/control/views.py ``node_document``) → Docker's Node;
    ``roots``: the PEM of each root the cluster trusts, by digest (`root_pems_of`), which
    its TLSInfo names (cert_info.py)."""
    spec = doc.get("spec") or {}
    desc = doc.get("description") or {}
    platform = desc.get("platform") or {}
    resources = desc.get("resources") or {}
    engine = desc.get("engine") or {}
    status = doc.get("status") or {}
    out: dict[str, Any] = {
        **_meta(doc),
        "Spec": {
            "Name": spec.get("name", ""),
            "Labels": dict(spec.get("labels") or {}),
            "Role": spec.get("desired_role", "worker"),
            "Availability": spec.get("availability", "active"),
        },
        "Description": {
            "Hostname": desc.get("hostname", ""),
            "Platform": {
                "Architecture": platform.get("architecture", ""),
                "OS": platform.get("os", ""),
            },
            "Resources": {
                "NanoCPUs": int(resources.get("nano_cpus", 0)),
                "MemoryBytes": int(resources.get("memory_bytes", 0)),
            },
            "Engine": {
                "EngineVersion": engine.get("engine_version", ""),
                "Labels": dict(engine.get("labels") or {}),
                "Plugins": [],
            },
            "TLSInfo": node_tls_info(desc.get("tls_info"), roots or {}),
        },
        "Status": {
            "State": status.get("state", "unknown"),
            "Message": status.get("message", ""),
            "Addr": status.get("addr", ""),
        },
    }
    manager = doc.get("manager_status")
    if doc.get("role") == "manager" and manager:
        out["ManagerStatus"] = {
            "Leader": bool(manager.get("leader")),
            "Reachability": manager.get("reachability", "unknown"),
            "Addr": manager.get("addr", ""),
        }
    return out


# -- services ---------------------------------------------------------------------------


def service_spec_of(doc: Doc) -> ServiceSpec:
    """The spec of a service document (the object codec's dict)."""
    return decode(ServiceSpec, doc["spec"], "spec", strict=False)


_UPDATE_STATES = {
    "updating": "updating",
    "paused": "paused",
    "completed": "completed",
    "rollback_started": "rollback_started",
    "rollback_paused": "rollback_paused",
    "rollback_completed": "rollback_completed",
}


def docker_service(doc: Doc, summary: Doc | None = None) -> dict[str, Any]:
    """A service document (and its summary, for ``ServiceStatus``) → Docker's Service."""
    spec = service_spec_of(doc)
    out: dict[str, Any] = {
        **_meta(doc),
        "Spec": docker_spec(spec),
        "Endpoint": {
            "Spec": {"Mode": spec.endpoint.mode.value, "Ports": docker_ports(spec.endpoint.ports)},
            "Ports": docker_ports(spec.endpoint.ports),
        },
    }
    if doc.get("previous_spec"):
        out["PreviousSpec"] = docker_spec(
            decode(ServiceSpec, doc["previous_spec"], "spec", strict=False)
        )
    update = doc.get("update_status")
    if update and update.get("state") in _UPDATE_STATES:
        # dockerd leaves out a time the update does not have yet (omitempty pointers):
        # an update in progress has no CompletedAt, not one of the year 1
        times = {
            key: rfc3339(update[field])
            for key, field in (("StartedAt", "started_at"), ("CompletedAt", "completed_at"))
            if update.get(field) is not None
        }
        out["UpdateStatus"] = {
            "State": _UPDATE_STATES[update["state"]],
            **times,
            "Message": update.get("message", ""),
        }
    if isinstance(spec.mode, ReplicatedJob | GlobalJob):
        # always there for a job, as on Docker: the CLI reads it without a nil check
        job = doc.get("job_status") or {}
        out["JobStatus"] = {
            "JobIteration": {"Index": _job_iteration(doc)},
            "LastExecution": rfc3339(job.get("started_at")),
        }
    if summary is not None:
        job_summary = summary.get("job") or {}
        out["ServiceStatus"] = {
            "RunningTasks": int(summary.get("replicas_running", 0)),
            "DesiredTasks": int(summary.get("replicas_desired", 0)),
            "CompletedTasks": int(job_summary.get("completed", 0)),
        }
    return out


def _job_iteration(doc: Doc) -> int:
    """The run the tasks of a job's current spec belong to. The orchestrator starts run
    ``iteration + 1`` of an unscheduled job once its spec changed since the current run
    began (actors/orchestrator/jobs.py ``_next_run``); until it has, that run is still
    the one a client waiting on the job's tasks must look for (the CLI reads the
    iteration once, right after ``service create`` or ``update``)."""
    job = doc.get("job_status") or {}
    iteration = int(job.get("iteration", 0))
    scheduled = (doc.get("spec") or {}).get("schedule") is not None
    if not scheduled and int(job.get("spec_version", 0)) != int(doc.get("spec_version", 0)):
        return iteration + 1
    return iteration


# -- tasks ------------------------------------------------------------------------------


def _state_label(value: Any) -> str:
    if isinstance(value, int):
        return TaskState(value).label
    return str(value)


def docker_task(doc: Doc) -> dict[str, Any]:
    """A task document (the object codec's dict) → Docker's Task, with its whole spec."""
    status = doc.get("status") or {}
    container = status.get("container_status") or {}
    spec = docker_spec(
        ServiceSpec(task=decode(ServiceSpec, {"task": doc["spec"]}, "task", strict=False).task)
    )
    state = _state_label(status.get("state", 0))
    message = str(status.get("message", ""))
    err = str(status.get("err", ""))
    if not err and state == "pending" and message.startswith(NO_SUITABLE_NODE):
        # Docker's scheduler says why a task waits in Err: service ps shows it as ERROR and
        # the CLI's progress under the task's slot
        err = message
    task_status: dict[str, Any] = {
        "Timestamp": rfc3339(status.get("timestamp")),
        "State": state,
        "Message": message,
        "Err": err,
        "ContainerStatus": {
            "ContainerID": container.get("container_id", ""),
            "PID": int(container.get("pid", 0)),
            "ExitCode": int(container.get("exit_code", 0)),
        },
        # what the task publishes on its node (service ps PORTS): its host-mode ports,
        # and the port the engine picked for a routing mesh's backend
        "PortStatus": {
            "Ports": docker_ports(
                tuple(
                    decode(PortConfig, port, "status.port_status", strict=False)
                    for port in status.get("port_status") or ()
                )
            )
        },
    }
    slot = int(doc.get("slot") or 0)
    iteration = int(doc.get("job_iteration") or 0)
    out: dict[str, Any] = {
        **_meta(doc),
        "Labels": dict(doc.get("labels") or {}),
        "Spec": spec["TaskTemplate"],
        "ServiceID": doc.get("service_id", ""),
        # a replicated job's slots are 1..N here and 0..N-1 on Docker, whose CLI waits
        # for slots 0..N-1 to complete
        "Slot": slot - 1 if iteration and slot else slot,
        "NodeID": doc.get("node_id", ""),
        "Status": task_status,
        "DesiredState": _state_label(doc.get("desired_state", 0)),
    }
    if iteration:
        out["JobIteration"] = {"Index": iteration}
    return out


# -- secrets and configs ----------------------------------------------------------------


def _file_meta(row: Doc) -> dict[str, Any]:
    return {
        "ID": row["id"],
        "Version": {"Index": int(row.get("version", 0))},
        "CreatedAt": rfc3339(row.get("created_at")),
        "UpdatedAt": rfc3339(row.get("updated_at")),
    }


def docker_secret(row: Doc) -> dict[str, Any]:
    """A secret row or document → Docker's Secret (never its data)."""
    if "meta" in row:
        spec = row.get("spec") or {}
        meta = row["meta"]
        row = {
            **meta,
            "id": row["id"],
            "name": spec.get("name"),
            "labels": spec.get("labels"),
            "templating": spec.get("templating"),
        }
    return {
        **_file_meta(row),
        "Spec": {
            "Name": row.get("name", ""),
            "Labels": dict(row.get("labels") or {}),
            **_templating(row.get("templating")),
        },
    }


def _templating(driver: object) -> dict[str, Any]:
    """Docker's ``Templating`` of a secret or config spec (absent without a driver)."""
    return {"Templating": {"Name": str(driver)}} if driver else {}


def docker_config(doc: Doc) -> dict[str, Any]:
    """A config document (with its data) → Docker's Config, its data in base64."""
    spec = doc.get("spec") or {}
    meta = doc.get("meta") or {}
    data = spec.get("data", b"")
    raw = data if isinstance(data, bytes) else str(data).encode()
    return {
        **_file_meta({**meta, "id": doc["id"]}),
        "Spec": {
            "Name": spec.get("name", ""),
            "Labels": dict(spec.get("labels") or {}),
            "Data": base64.b64encode(raw).decode("ascii"),
            **_templating(spec.get("templating")),
        },
    }


# -- the swarm --------------------------------------------------------------------------


def ca_cert_of(cluster: Doc) -> str:
    """The swarm's root CA certificate (PEM) in a cluster document."""
    return _text((cluster.get("root_ca") or {}).get("ca_cert"))


def rotation_cert_of(cluster: Doc) -> str:
    """The new root CA certificate (PEM) of a root rotation under way, else ''."""
    rotation = (cluster.get("root_ca") or {}).get("root_rotation") or {}
    return _text(rotation.get("ca_cert"))


def root_pems_of(cluster: Doc) -> list[str]:
    """Every root CA certificate (PEM) the cluster trusts in a cluster document: its root,
    and during a rotation the new root and those of the rotations it replaced."""
    rotation = (cluster.get("root_ca") or {}).get("root_rotation") or {}
    superseded = [_text(pem) for pem in rotation.get("superseded_ca_certs") or ()]
    return [pem for pem in (ca_cert_of(cluster), rotation_cert_of(cluster), *superseded) if pem]


def docker_swarm(cluster: Doc, join_tokens: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The cluster document → Docker's Swarm (``JoinTokens`` when given: /swarm only)."""
    spec = cluster.get("spec") or {}
    raft = spec.get("raft") or {}
    out: dict[str, Any] = {
        **_meta(cluster),
        "Spec": {
            "Name": spec.get("name", "default"),
            "Labels": dict(spec.get("labels") or {}),
            "Orchestration": {
                "TaskHistoryRetentionLimit": int(
                    (spec.get("orchestration") or {}).get("task_history_retention_limit", 5)
                )
            },
            "Raft": {
                "SnapshotInterval": int(raft.get("snapshot_interval", 10_000)),
                "KeepOldSnapshots": int(raft.get("keep_old_snapshots", 0)),
                "LogEntriesForSlowFollowers": int(raft.get("log_entries_for_slow_followers", 500)),
                "ElectionTick": int(raft.get("election_tick", 10)),
                "HeartbeatTick": int(raft.get("heartbeat_tick", 1)),
            },
            "Dispatcher": {
                "HeartbeatPeriod": to_ns(
                    float((spec.get("dispatcher") or {}).get("heartbeat_period", 5.0))
                )
            },
            "CAConfig": {
                "NodeCertExpiry": to_ns(
                    float((spec.get("ca_config") or {}).get("node_cert_expiry", 0.0))
                ),
                "ForceRotate": int((spec.get("ca_config") or {}).get("force_rotate", 0)),
            },
            "TaskDefaults": {},
            "EncryptionConfig": {
                "AutoLockManagers": bool(
                    (spec.get("encryption_config") or {}).get("auto_lock_managers")
                )
            },
        },
        "TLSInfo": swarm_tls_info(ca_cert_of(cluster), rotation_cert_of(cluster)),
        "RootRotationInProgress": bool(rotation_cert_of(cluster)),
        "DataPathPort": 0,
        "DefaultAddrPool": [],
        "SubnetSize": 0,
    }
    if join_tokens is not None:
        out["JoinTokens"] = {
            "Worker": join_tokens.get("worker", ""),
            "Manager": join_tokens.get("manager", ""),
        }
    return out
