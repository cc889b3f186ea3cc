"""``POST /swarm/update``'s body (a Docker SwarmSpec) → control.cluster.update fields, and
the root CA rotation ``docker swarm ca --rotate`` asks for → a control.cluster.ca body
(pure).

Only what differs from the current cluster is sent; a change to a field the control API
cannot change is refused naming it, never dropped. ``docker swarm ca --rotate`` sends the
spec it read with ``CAConfig.ForceRotate`` raised (a root made by the CA), or with
``SigningCACert`` and ``SigningCAKey`` (``--ca-cert``, ``--ca-key``: the operator's root);
an external CA (``--external-ca``, or ``--ca-cert`` alone) is refused naming the flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.engine_api.errors import bad_request, not_supported
from actors.engine_api.objects import docker_swarm
from actors.engine_api.wire import from_ns

__all__ = ["ca_rotation_body", "cluster_changes"]

# Docker's path → (control.cluster.update field, from Docker's value)
_CHANGEABLE: dict[tuple[str, ...], tuple[str, Any]] = {
    ("Orchestration", "TaskHistoryRetentionLimit"): ("task_history_limit", int),
    ("Raft", "SnapshotInterval"): ("snapshot_interval", int),
    ("Dispatcher", "HeartbeatPeriod"): ("heartbeat_period", None),
    ("CAConfig", "NodeCertExpiry"): ("cert_expiry", None),
    ("EncryptionConfig", "AutoLockManagers"): ("autolock", bool),
}
# what ca_rotation_body reads, so cluster_changes leaves them
_FORCE_ROTATE = ("CAConfig", "ForceRotate")
_SIGNING_CERT = ("CAConfig", "SigningCACert")
_SIGNING_KEY = ("CAConfig", "SigningCAKey")
_EXTERNAL_CAS = ("CAConfig", "ExternalCAs")
_ROTATION_PATHS = frozenset({_FORCE_ROTATE, _SIGNING_CERT, _SIGNING_KEY, _EXTERNAL_CAS})


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
        if value == old or (_empty(value) and _empty(old)) or path in _ROTATION_PATHS:
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


def ca_rotation_body(current: Mapping[str, Any], spec: Any) -> dict[str, Any] | None:
    """The control.cluster.ca body of the root CA rotation ``spec`` asks for (None: none)."""
    if not isinstance(spec, Mapping):
        raise bad_request("swarm update: the body must be a SwarmSpec object")
    ca_config = spec.get("CAConfig") or {}
    if not isinstance(ca_config, Mapping):
        raise bad_request("swarm update: CAConfig must be an object")
    if ca_config.get(_EXTERNAL_CAS[1]):
        raise not_supported("an external CA (docker swarm ca/update --external-ca)")
    cert, key = ca_config.get(_SIGNING_CERT[1]) or "", ca_config.get(_SIGNING_KEY[1]) or ""
    if not isinstance(cert, str) or not isinstance(key, str):
        raise bad_request("swarm update: SigningCACert and SigningCAKey must be PEM strings")
    if key and not cert:
        raise bad_request("swarm update: SigningCAKey needs SigningCACert (--ca-cert)")
    if cert and not key:
        raise not_supported(
            "a root CA without its key (docker swarm ca --ca-cert without --ca-key: an "
            "external CA signing for it)"
        )
    if cert:
        return {"rotate": True, "ca_cert": cert.encode(), "ca_key": key.encode()}
    have = int(docker_swarm(current)["Spec"]["CAConfig"].get("ForceRotate", 0))
    want = ca_config.get(_FORCE_ROTATE[1], have)
    if not isinstance(want, int) or isinstance(want, bool):
        raise bad_request("swarm update: CAConfig.ForceRotate must be an integer")
    return {"rotate": True} if want != have else None
