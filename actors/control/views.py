"""What the control API shows of each object: plain dicts for list rows and summaries.

These are the ``--format json`` rows of swarmctl (states lower-case, as ``docker service
ps`` prints them); full objects travel as the object codec's dicts instead. Pure
functions of store objects.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from actors.orchestrator.jobs import is_job, job_progress
from api.codec_objects import encode_object
from api.enums import NodeRole
from api.explain import task_reason, update_reason
from api.objects import Cluster, Node, NodeTLSInfo, Service, Task
from api.specs import GlobalJob, GlobalService, PortConfig, ReplicatedJob, ReplicatedService
from api.task_state import TaskState

__all__ = [
    "cluster_document",
    "node_document",
    "node_row",
    "public_service",
    "service_summary",
    "task_name",
    "task_order",
    "task_row",
]


def _active(task: Task) -> bool:
    return task.desired_state <= TaskState.RUNNING


def public_service(service: Service) -> Service:
    """The service as the control API shows it: without its registry credentials."""
    if service.registry_auth is None:
        return service
    return replace(service, registry_auth=None)


def service_summary(service: Service, tasks: Iterable[Task]) -> dict[str, Any]:
    """``{id, name, mode, replicas_desired, replicas_running, image, ...}``."""
    tasks = list(tasks)
    spec = service.spec
    mode = spec.mode
    running = sum(1 for t in tasks if _active(t) and t.status.state == TaskState.RUNNING)
    if isinstance(mode, ReplicatedService):
        desired = mode.replicas
    elif isinstance(mode, ReplicatedJob):
        desired = mode.total_completions
    elif isinstance(mode, GlobalService | GlobalJob):
        desired = len({t.node_id for t in tasks if _active(t) and t.node_id})
    else:  # pragma: no cover - validation refuses other modes
        desired = 0
    update = service.update_status
    policy = spec.task.restart_policy
    return {
        "id": service.id,
        "name": spec.name,
        "mode": mode.TAG,
        "replicas_desired": desired,
        "replicas_running": running,
        "image": spec.task.container.image,
        "labels": dict(spec.labels),  # stacks are found by theirs (cli/stack.py)
        "spec_version": service.spec_version,
        "version": service.meta.version,
        "created_at": service.meta.created_at,
        "updated_at": service.meta.updated_at,
        "pending_delete": service.pending_delete,
        "update_status": (
            None
            if update is None
            else {
                "state": update.state.value,
                "message": update.message,
                "started_at": update.started_at,
                "completed_at": update.completed_at,
                "reason": update_reason({"state": update.state.value, "message": update.message}),
            }
        ),
        "restart_condition": policy.condition.value,
        "restart_max_attempts": policy.max_attempts,
        "ports": [_port(p) for p in spec.endpoint.ports],
        "with_registry_auth": service.registry_auth is not None,
        "job": _job_summary(service, tasks),
    }


def _job_summary(service: Service, tasks: list[Task]) -> dict[str, Any] | None:
    """A job's current run: ``{iteration, state, completed, total, running, concurrency,
    message, schedule}`` (None for services that are not jobs)."""
    if not is_job(service):
        return None
    progress = job_progress(service, tasks)
    status = service.job_status
    schedule = service.spec.schedule
    return {
        "iteration": progress.iteration,
        "state": progress.state.value,
        "completed": progress.completed,
        "total": progress.total,
        "running": progress.running,
        "concurrency": progress.concurrency,
        "message": status.message if status is not None else "",
        "schedule": schedule.cron if schedule is not None else "",
    }


def _port(port: PortConfig) -> dict[str, Any]:
    return {
        "protocol": port.protocol.value,
        "target_port": port.target_port,
        "published_port": port.published_port,
        "publish_mode": port.publish_mode.value,
    }


def task_order(task: Task) -> tuple[int, str, bool, float]:
    """The order of ``docker service ps``: by slot (global tasks: by node), the slot's
    current task first (the one meant to run, wherever it runs), then its history, newest
    first."""
    where = "" if task.slot else task.node_id
    return (task.slot, where, not _active(task), -task.meta.created_at)


def task_name(task: Task) -> str:
    """``web.1``, or ``web.NODE-ID`` for a global task, as ``docker service ps`` names it."""
    return f"{task.service_name}.{task.slot if task.slot else task.node_id}"


# the states a task's container reaches once it ran and exited: before that a task has
# no exit code (Docker shows none), and a rejected or orphaned one never gets one
_EXITED = frozenset({TaskState.COMPLETE, TaskState.FAILED, TaskState.SHUTDOWN})


def _exit_code(task: Task) -> int | None:
    container = task.status.container_status
    if container is None or task.status.state not in _EXITED:
        return None
    return container.exit_code


def task_row(
    task: Task, hostnames: Mapping[str, str], service: Service | None = None
) -> dict[str, Any]:
    """``{id, slot, node_id, desired_state, state, message, container_id, ...}``."""
    container = task.status.container_status
    row = {
        "id": task.id,
        "name": task_name(task),
        "service_id": task.service_id,
        "service_name": task.service_name,
        "slot": task.slot,
        "node_id": task.node_id,
        "node": hostnames.get(task.node_id, ""),
        "image": task.spec.container.image,
        "desired_state": task.desired_state.label,
        "state": task.status.state.label,
        "message": task.status.message,
        "error": task.status.err,
        "container_id": container.container_id if container is not None else "",
        "exit_code": _exit_code(task),
        "timestamp": task.status.timestamp,
        "created_at": task.meta.created_at,
        "up_to_date": service is not None and task.spec == service.spec.task,
        "ports": [_port(p) for p in task.status.port_status],
    }
    row["reason"] = task_reason(row)  # why it failed or still waits (api/explain.py)
    return row


def node_row(node: Node) -> dict[str, Any]:
    """``{id, hostname, role, status, availability, manager_status, ...}``."""
    ms = node.manager_status if node.role is NodeRole.MANAGER else None  # a demoted one's
    desc = node.description
    return {
        "id": node.id,
        "hostname": node.hostname,
        "role": node.role.value,
        "status": node.status.state.value,
        "availability": node.spec.availability.value,
        "manager_status": (
            None
            if ms is None
            else {"leader": ms.leader, "reachability": ms.reachability.value, "addr": ms.addr}
        ),
        "labels": dict(node.spec.labels),
        "address": node.status.addr,
        "message": node.status.message,
        "engine_version": desc.engine.engine_version if desc is not None else "",
        # what runs its tasks ("": a node older than the report, placed as docker)
        "executor": desc.executor.kind if desc is not None and desc.executor else "",
        # the certificate it uses, as it reported it (None: never reported)
        "tls": _tls_row(desc.tls_info if desc is not None else None),
        "version": node.meta.version,
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _tls_row(info: NodeTLSInfo | None) -> dict[str, Any] | None:
    """A node's TLS report as JSON shows it: its DER fields in base64, as Docker's."""
    if info is None:
        return None
    return {
        "trust_roots": list(info.trust_roots),
        "cert_issuer_subject": _b64(info.cert_issuer_subject),
        "cert_issuer_public_key": _b64(info.cert_issuer_public_key),
    }


def node_document(node: Node) -> dict[str, Any]:
    """The node as the codec encodes it, its certificate as PEM text and its TLS report's
    DER fields in base64 (JSON has no bytes)."""
    doc = encode_object(node)
    cert = doc.get("certificate", "")
    doc["certificate"] = cert.decode("ascii", "replace") if isinstance(cert, bytes) else cert
    description = doc.get("description")
    if description is not None and node.description is not None:
        description["tls_info"] = _tls_row(node.description.tls_info)
    return doc


def cluster_document(cluster: Cluster) -> dict[str, Any]:
    """The cluster as the codec encodes it, without its private keys (the CA keys and the
    unlock key never leave the managers); the CA certificates as PEM text."""
    doc = encode_object(cluster)
    doc.pop("unlock_key", None)
    root = dict(doc.get("root_ca") or {})
    root.pop("ca_key", None)
    for name in ("ca_cert", "cross_signed_ca_cert"):
        cert = root.get(name, b"")
        root[name] = cert.decode("ascii", "replace") if isinstance(cert, bytes) else cert
    rotation = dict(root.get("root_rotation") or {})
    if rotation:  # a root rotation under way: its certificates, never its key
        rotation.pop("ca_key", None)
        for name, value in rotation.items():
            if isinstance(value, bytes):
                rotation[name] = value.decode("ascii", "replace")
            elif isinstance(value, list | tuple):  # superseded_ca_certs
                rotation[name] = [v.decode("ascii", "replace") for v in value]
        root["root_rotation"] = rotation
    doc["root_ca"] = root
    return doc
