"""The kernel-facing options of Docker's ``TaskTemplate.ContainerSpec`` ⇄ ours (pure):
``ReadOnly``, ``Init``, ``TTY``, ``Groups``, ``CapabilityAdd``, ``CapabilityDrop``,
``Ulimits`` (``[{Name, Soft, Hard}]``), ``Sysctls``, ``DNSConfig`` (``{Nameservers,
Search, Options}``), ``Hosts`` (``"IP HOST [ALIAS...]"`` lines, as SwarmKit's) and
``OomScoreAdj``.

Rules: a capability Docker sends as ``NET_ADMIN`` is stored as ``CAP_NET_ADMIN`` (as the
engine normalises it); going back, a field is written only when set, as Docker's
``omitempty`` fields are, so ``docker service inspect`` shows what a user gave. Values are
validated with the rest of the spec by the control API (api/container_options.py).
"""

from __future__ import annotations

from typing import Any

from actors.engine_api.doc_fields import (
    Doc,
    bool_at,
    int_at,
    labels_at,
    list_at,
    object_at,
    str_at,
    strings_at,
)
from actors.engine_api.errors import bad_request
from api.container_options import normalize_capability
from api.specs import ContainerSpec, DNSConfig, Ulimit

__all__ = ["container_options_from_docker", "docker_container_options"]


def _ulimits(doc: Doc, path: str) -> tuple[Ulimit, ...]:
    out = []
    for i, item in enumerate(list_at(doc, "Ulimits", path)):
        sub = f"{path}Ulimits[{i}]."
        if not isinstance(item, dict):
            raise bad_request(f"{path}Ulimits[{i}]: expected an object")
        out.append(
            Ulimit(
                name=str_at(item, "Name", sub),
                soft=int_at(item, "Soft", sub),
                hard=int_at(item, "Hard", sub),
            )
        )
    return tuple(out)


def container_options_from_docker(doc: Doc, path: str) -> dict[str, Any]:
    """The ContainerSpec fields of Docker's ContainerSpec ``doc`` at ``path``."""
    dns = object_at(doc, "DNSConfig", path)
    dns_path = f"{path}DNSConfig."
    return {
        "read_only": bool_at(doc, "ReadOnly", path),
        "init": bool_at(doc, "Init", path),
        "tty": bool_at(doc, "TTY", path),
        "groups": strings_at(doc, "Groups", path),
        "cap_add": tuple(normalize_capability(c) for c in strings_at(doc, "CapabilityAdd", path)),
        "cap_drop": tuple(normalize_capability(c) for c in strings_at(doc, "CapabilityDrop", path)),
        "ulimits": _ulimits(doc, path),
        "sysctls": labels_at(doc, "Sysctls", path),
        "dns_config": DNSConfig(
            nameservers=strings_at(dns, "Nameservers", dns_path),
            search=strings_at(dns, "Search", dns_path),
            options=strings_at(dns, "Options", dns_path),
        ),
        "hosts": strings_at(doc, "Hosts", path),
        "oom_score_adj": int_at(doc, "OomScoreAdj", path),
    }


def docker_container_options(c: ContainerSpec) -> dict[str, Any]:
    """Docker's ContainerSpec fields of ``c``, those set only."""
    dns = {
        "Nameservers": list(c.dns_config.nameservers),
        "Search": list(c.dns_config.search),
        "Options": list(c.dns_config.options),
    }
    doc: dict[str, Any] = {
        "ReadOnly": c.read_only,
        "Init": c.init,
        "TTY": c.tty,
        "Groups": list(c.groups),
        "CapabilityAdd": list(c.cap_add),
        "CapabilityDrop": list(c.cap_drop),
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in c.ulimits],
        "Sysctls": dict(c.sysctls),
        "DNSConfig": {k: v for k, v in dns.items() if v},
        "Hosts": list(c.hosts),
        "OomScoreAdj": c.oom_score_adj,
    }
    return {k: v for k, v in doc.items() if v}
