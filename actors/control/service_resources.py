"""What the control API checks of a service's spec against the rest of the store before
writing it, and the registry credentials a request brings.

- ``created_spec`` and ``updated_spec`` are what a create and an update store (and what
  ``--dry-run`` plans with): secret and config references resolved (references.py),
  then the checks below.
- Networks are named by id in a stored spec (``resolve_networks``); published ports are
  checked against the other services' and an ingress port left at 0 gets one
  (ingress.py); the task template carries the endpoint's ports (``with_task_ports``).
- A bind mount gives a service the host's files: it is refused unless the cluster allows
  bind mounts (``swarmctl cluster update --allow-bind-mounts``); the cluster refuses to
  stop allowing them while a service has one (actors/control/cluster.py).
- ``registry_auth`` (``--with-registry-auth``) is a secret: bounded, kept on the Service
  (in the encrypted Raft log) and never answered back (views.py `public_service`).
"""

from __future__ import annotations

from typing import Any

from actors.control.errors import Body, ControlCode, ControlError
from actors.control.ingress import allocate_published
from actors.control.networks import resolve_network_refs, resolve_networks
from actors.control.references import resolve_references
from actors.store import ReadTx, clusters, services
from api.host_resources import bind_mounts, parse_network, with_task_ports
from api.objects import RegistryAuth
from api.service_options import apply_options
from api.spec_limits import MAX_FIELD_BYTES, check_string
from api.specs import ServiceSpec
from api.validation import validate_service_spec

__all__ = [
    "BIND_REFUSED",
    "bind_mount_users",
    "created_spec",
    "prepare_options",
    "prepare_spec",
    "registry_auth_of",
    "updated_spec",
]

BIND_REFUSED = (
    "bind mounts are refused: a bind mount gives a service the host's files; an operator "
    "may allow them with `swarmctl cluster update --allow-bind-mounts`"
)


def created_spec(tx: ReadTx, spec: ServiceSpec, service_id: str = "") -> ServiceSpec:
    """The spec ``service create`` stores for ``spec`` (validated by the caller); a whole
    spec for the existing service ``service_id`` (an update or a rollback) too."""
    return prepare_spec(tx, resolve_references(tx, spec), service_id)


def updated_spec(
    tx: ReadTx, spec: ServiceSpec, changes: dict[str, Any], service_id: str = ""
) -> ServiceSpec:
    """The spec ``service update`` stores for ``changes`` to the stored ``spec`` (of the
    service ``service_id``), validated."""
    new_spec = resolve_references(tx, apply_options(spec, prepare_options(tx, changes)))
    validate_service_spec(new_spec)
    return prepare_spec(tx, new_spec, service_id)


def prepare_spec(tx: ReadTx, spec: ServiceSpec, service_id: str = "") -> ServiceSpec:
    """``spec`` as it may be stored: its published ports free (ingress ports allocated),
    networks by id, bind mounts only where allowed, the task template carrying the
    published ports."""
    spec = with_task_ports(allocate_published(tx, spec, service_id))
    if bind_mounts(spec):
        cluster = clusters.get_default(tx)
        if cluster is None or not cluster.spec.allow_bind_mounts:
            mounted = ", ".join(m.source for m in bind_mounts(spec))
            raise ControlError(ControlCode.INVALID_SPEC, f"{BIND_REFUSED} (asked for: {mounted})")
    return resolve_networks(tx, spec)


def prepare_options(tx: ReadTx, changes: dict[str, Any]) -> dict[str, Any]:
    """``service update`` options with the networks of ``--network-rm`` and
    ``--network-add`` named by id, as a stored spec names them (so adding a network the
    service has replaces its attachment)."""
    out = dict(changes)
    if changes.get("network_rm"):
        out["network_rm"] = resolve_network_refs(tx, [str(n) for n in changes["network_rm"]])
    if changes.get("network_add"):
        added = [parse_network(str(text), "--network-add") for text in changes["network_add"]]
        ids = resolve_network_refs(tx, [a.target for a in added])
        out["network_add"] = [
            ",".join([f"name={id_}", *(f"alias={alias}" for alias in a.aliases)])
            for a, id_ in zip(added, ids, strict=True)
        ]
    return out


def bind_mount_users(tx: ReadTx) -> list[str]:
    """Names of the services that have a bind mount."""
    return sorted(s.spec.name for s in services.list_all(tx) if bind_mounts(s.spec))


def registry_auth_of(body: Body) -> RegistryAuth | None:
    """The request's ``registry_auth`` (validated sizes), or None."""
    raw = body.get("registry_auth")
    if raw is None:
        return None
    auth = RegistryAuth(
        server_address=str(raw["server_address"]),
        username=str(raw["username"]),
        password=str(raw["password"]),
        identity_token=str(raw.get("identity_token", "")),
    )
    for name in ("server_address", "username", "password", "identity_token"):
        check_string(getattr(auth, name), f"registry_auth.{name}", MAX_FIELD_BYTES)
    if not auth.server_address or not (auth.password or auth.identity_token):
        raise ControlError(
            ControlCode.INVALID_ARGUMENT,
            "registry_auth needs a server address and a password or identity token",
        )
    return auth
