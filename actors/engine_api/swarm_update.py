"""``POST /swarm/update``'s body (a Docker SwarmSpec) → control.cluster.update fields (pure).

Only what differs from the current cluster is sent; a change to a field the control API
cannot change is refused naming it, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.engine_api.errors import bad_request, not_supported
from actors.engine_api.objects import docker_swarm
from actors.engine_api.wire import from_ns

__all__ = ["cluster_changes"]

# Docker's path → (control.cluster.update field, from Docker's value)
_CHANGEABLE: dict[tuple[str, ...], tuple[str, Any]] = {
    ("Orchestration", "TaskHistoryRetentionLimit"): ("task_history_limit", int),
    ("Raft", "SnapshotInterval"): ("snapshot_interval", int),
    ("Dispatcher", "HeartbeatPeriod"): ("heartbeat_period", None),
    ("CAConfig", "NodeCertExpiry"): ("cert_expiry", None),
    ("EncryptionConfig", "AutoLockManagers"): ("autolock", bool),
}


def _leaves(doc: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for key, value in doc.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            out.update(_leaves(value, path))
        else:
            out[path] = value
    return out


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == "" or value == 0


def cluster_changes(current: Mapping[str, Any], spec: Any) -> dict[str, Any]:
    """The control.cluster.update body that makes ``current`` (a cluster document) match
    ``spec`` (Docker's SwarmSpec)."""
    if not isinstance(spec, Mapping):
        raise bad_request("swarm update: the body must be a SwarmSpec object")
    have = _leaves(docker_swarm(current)["Spec"])
    want = _leaves(spec)
    changes: dict[str, Any] = {}
    for path, value in want.items():
        old = have.get(path)
        if value == old or (_empty(value) and _empty(old)):
            continue
        if path in _CHANGEABLE:
            name, convert = _CHANGEABLE[path]
            if convert is None:
                changes[name] = from_ns(value, ".".join(path))
            else:
                changes[name] = convert(value)
            continue
        raise not_supported(f"changing the swarm's {'.'.join(path)}")
    return changes
