"""Control API: the cluster object (inspect, update) and its join tokens. Its private keys
never leave the store: replies carry `cluster_document`s.

``cluster_handlers(store, ca)`` adds the handlers that need the node's CA service
(``control.cluster.join_token`` with ``rotate``, and ``control.cluster.update``) to a
manager's control table; ``control.cluster.inspect`` is in `control_handlers`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from actors.ca.certs import InvalidCertExpiry, check_node_cert_expiry
from actors.ca.issuance import JoinRefused
from actors.control.errors import Body, ControlCode, ControlError, guarded
from actors.control.service_resources import bind_mount_users
from actors.control.views import cluster_document
from actors.store import MemoryStore, ReadTx, WriteTx, clusters
from api.enums import NodeRole
from api.objects import Cluster
from transport.endpoint import Handler

__all__ = ["MIN_HEARTBEAT_PERIOD", "ClusterControl", "cluster_handlers"]

MIN_HEARTBEAT_PERIOD = 0.1
ROLES = {"worker": NodeRole.WORKER, "manager": NodeRole.MANAGER}

TokenRotator = Callable[[NodeRole], str]


class ClusterControl:
    def __init__(self, store: MemoryStore, *, rotate_token: TokenRotator | None = None) -> None:
        self._store = store
        self._rotate = rotate_token

    def inspect(self, body: Body) -> Body:
        ref = str(body.get("cluster") or clusters.DEFAULT_NAME)

        def read(tx: ReadTx) -> Body:
            return {"cluster": cluster_document(clusters.lookup(tx, ref))}

        return self._store.view(read)

    def join_token(self, body: Body) -> Body:
        name = str(body["role"])
        role = ROLES.get(name)
        if role is None:
            raise ControlError(
                ControlCode.INVALID_ARGUMENT, f"role must be worker or manager, not {name!r}"
            )
        if body.get("rotate"):
            if self._rotate is None:
                raise ControlError(ControlCode.UNAVAILABLE, "this manager cannot rotate tokens")
            try:
                token = self._rotate(role)
            except JoinRefused as exc:  # e.g. the cluster holds no CA key to sign with
                raise ControlError(ControlCode.UNAVAILABLE, exc.message) from None
            return {"role": name, "token": token}
        cluster = self._store.view(clusters.get_default)
        if cluster is None:
            raise ControlError(ControlCode.UNAVAILABLE, "the cluster is not initialized yet")
        tokens = cluster.join_tokens
        token = tokens.manager if role is NodeRole.MANAGER else tokens.worker
        if not token:
            raise ControlError(ControlCode.UNAVAILABLE, "the cluster has no join tokens")
        return {"role": name, "token": token}

    def update(self, body: Body) -> Body:
        expected = int(body["version"]) if "version" in body else None
        changes = _settings(body, check_only=expected is not None)

        def write(tx: WriteTx) -> Cluster:
            cluster = clusters.get_default(tx)
            if cluster is None:
                raise ControlError(ControlCode.UNAVAILABLE, "the cluster is not initialized yet")
            # checked in the write: nothing can change the cluster between check and update
            if expected is not None and cluster.meta.version != expected:
                raise ControlError(
                    ControlCode.CONFLICT,
                    f"update out of sequence: the cluster is at version {cluster.meta.version}, "
                    f"not {expected}",
                )
            spec = cluster.spec
            for apply in changes:
                spec = apply(spec)
            if cluster.spec.allow_bind_mounts and not spec.allow_bind_mounts:
                users = bind_mount_users(tx)
                if users:
                    raise ControlError(
                        ControlCode.IN_USE,
                        "bind mounts are in use by service"
                        f"{'s' if len(users) > 1 else ''} {', '.join(users)}: remove their "
                        "bind mounts (service update --mount-rm) before refusing them",
                    )
            updated = replace(cluster, spec=spec)
            if updated != cluster:
                tx.update(updated)
            return updated

        cluster = self._store.update(write).value
        return {"cluster": cluster_document(cluster)}


def _settings(body: Body, *, check_only: bool = False) -> list[Callable[[Any], Any]]:
    """The spec changes a request asks for, validated before anything is written;
    ``check_only``: none is fine (the request only checks the version)."""
    out: list[Callable[[Any], Any]] = []
    if "heartbeat_period" in body:
        period = float(body["heartbeat_period"])
        if not (math.isfinite(period) and period >= MIN_HEARTBEAT_PERIOD):
            raise ControlError(
                ControlCode.INVALID_ARGUMENT,
                f"heartbeat period must be at least {MIN_HEARTBEAT_PERIOD:g}s",
            )
        out.append(lambda s: replace(s, dispatcher=replace(s.dispatcher, heartbeat_period=period)))
    if "task_history_limit" in body:
        limit = int(body["task_history_limit"])
        if limit < 0:
            raise ControlError(ControlCode.INVALID_ARGUMENT, "task history limit must be >= 0")
        out.append(
            lambda s: replace(
                s, orchestration=replace(s.orchestration, task_history_retention_limit=limit)
            )
        )
    if "service_history_limit" in body:
        kept = int(body["service_history_limit"])
        if kept < 1:
            raise ControlError(
                ControlCode.INVALID_ARGUMENT,
                "service history limit must be >= 1 (the current spec is always kept)",
            )
        out.append(
            lambda s: replace(s, orchestration=replace(s.orchestration, service_history_limit=kept))
        )
    if "snapshot_interval" in body:
        interval = int(body["snapshot_interval"])
        if interval < 1:
            raise ControlError(ControlCode.INVALID_ARGUMENT, "snapshot interval must be >= 1")
        out.append(lambda s: replace(s, raft=replace(s.raft, snapshot_interval=interval)))
    if "cert_expiry" in body:
        try:
            expiry = check_node_cert_expiry(float(body["cert_expiry"]))
        except InvalidCertExpiry as exc:
            raise ControlError(ControlCode.INVALID_ARGUMENT, str(exc)) from None
        out.append(lambda s: replace(s, ca_config=replace(s.ca_config, node_cert_expiry=expiry)))
    if "allow_bind_mounts" in body:
        allow = bool(body["allow_bind_mounts"])
        out.append(lambda s: replace(s, allow_bind_mounts=allow))
    if not out and not check_only:
        raise ControlError(ControlCode.INVALID_ARGUMENT, "nothing to update: give a setting")
    return out


def cluster_handlers(store: MemoryStore, *, rotate_token: TokenRotator) -> dict[str, Handler]:
    """The join-token and update handlers (see the module docstring)."""
    control = ClusterControl(store, rotate_token=rotate_token)
    return {
        "control.cluster.join_token": guarded(control.join_token),
        "control.cluster.update": guarded(control.update),
    }
