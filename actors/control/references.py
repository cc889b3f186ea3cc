"""A service spec's secret and config references, resolved against the store when the
service is written: each names an existing object (by name, id or unique id prefix), and
is stored with that object's id and name and its target made explicit. A reference to an
object that does not exist is refused with code ``not_found`` and nothing is written.
"""

from __future__ import annotations

from dataclasses import replace

from actors.control.errors import ControlCode, ControlError
from actors.store import NotFound, ReadTx, configs, secrets
from api.secret_refs import config_target, secret_target
from api.specs import ConfigReference, SecretReference, ServiceSpec

__all__ = ["resolve_references"]


def _missing(what: str, ref: str) -> ControlError:
    return ControlError(
        ControlCode.NOT_FOUND,
        f"{what} {ref!r} not found: create it first (swarmctl {what} create {ref} FILE)",
    )


def _secret(tx: ReadTx, ref: SecretReference) -> SecretReference:
    key = ref.secret_id or ref.secret_name
    try:
        found = secrets.get(tx, ref.secret_id) if ref.secret_id else secrets.lookup(tx, key)
    except NotFound:
        found = None
    if found is None:
        raise _missing("secret", ref.secret_name or key)
    named = replace(ref, secret_id=found.id, secret_name=found.spec.name)
    return replace(named, target=secret_target(named))


def _config(tx: ReadTx, ref: ConfigReference) -> ConfigReference:
    key = ref.config_id or ref.config_name
    try:
        found = configs.get(tx, ref.config_id) if ref.config_id else configs.lookup(tx, key)
    except NotFound:
        found = None
    if found is None:
        raise _missing("config", ref.config_name or key)
    named = replace(ref, config_id=found.id, config_name=found.spec.name)
    return replace(named, target=config_target(named))


def resolve_references(tx: ReadTx, spec: ServiceSpec) -> ServiceSpec:
    """``spec`` with every secret and config reference resolved (module rules)."""
    c = spec.task.container
    if not c.secrets and not c.configs:
        return spec
    resolved = replace(
        c,
        secrets=tuple(_secret(tx, r) for r in c.secrets),
        configs=tuple(_config(tx, r) for r in c.configs),
    )
    if resolved == c:
        return spec
    return replace(spec, task=replace(spec.task, container=resolved))
