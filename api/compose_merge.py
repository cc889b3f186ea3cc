"""Several compose files (``-c base.yml -c prod.yml``) merged into one, in order, as
``docker stack deploy`` merges them (docker/cli ``cli/compose/loader/merge.go``).

Rules, for a service both files have (one that only a later file has is taken whole):
- Mappings merge key by key (``deploy``, ``healthcheck``, ``environment``, ``labels``,
  ``deploy.labels``: their list forms are read as mappings first, so both forms merge).
- ``ports`` are the earlier file's plus the later's (the same port once); ``secrets`` and
  ``configs`` are merged by ``source``, ``volumes`` by target: a later entry replaces the
  one it names, the others stay. ``networks`` merge by network (a list is a mapping of
  names); a later network's options (``aliases``) replace the earlier's.
- ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced; ``ulimits`` are
  replaced per limit; ``logging`` options merge when the driver stays the same (or one
  file names none), else the later ``logging`` replaces the earlier.
- Any other list is appended to (``cap_add``, ``dns``, ``env_file``,
  ``deploy.placement.constraints``, ...), an entry the earlier file has not added twice;
  a scalar, or a value of another type, is replaced.
The top-level ``secrets``, ``configs``, ``networks`` and ``volumes`` are replaced per key
(a later ``db_pass: {external: true}`` is external, whatever the earlier said).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from api.compose_fields import ComposeError, key_values, type_name

__all__ = ["merge_documents"]

_OBJECT_SECTIONS: Final = frozenset({"secrets", "configs", "networks", "volumes"})
_REPLACED: Final = frozenset({"command", "entrypoint"})
_SHORT_PORT = re.compile(r"^(?:(\d+):)?(\d+)(?:/(\w+))?$")


def _mapping_form(service: Any, path: str) -> Any:
    """A service with its ``environment``, ``labels`` and ``deploy.labels`` lists read as
    mappings."""
    if not isinstance(service, Mapping):
        return service
    out = dict(service)
    for key in ("environment", "labels"):
        if isinstance(out.get(key), list):
            out[key] = key_values(out[key], f"{path}.{key}", keep_none=True)
    deploy = out.get("deploy")
    if isinstance(deploy, Mapping) and isinstance(deploy.get("labels"), list):
        labels = key_values(deploy["labels"], f"{path}.deploy.labels", keep_none=True)
        out["deploy"] = {**deploy, "labels": labels}
    return out


def _port_key(item: Any) -> Any:
    """A port's published port, target, protocol and mode, whichever syntax gives them."""
    if isinstance(item, Mapping):
        return (
            str(item.get("published") or 0),
            str(item.get("target")),
            str(item.get("protocol") or "tcp").lower(),
            str(item.get("mode") or "ingress").lower(),
        )
    m = _SHORT_PORT.match(str(item).strip())
    if m is None or isinstance(item, bool):
        return repr(item)
    published, target, protocol = m.groups()
    return (str(int(published or 0)), str(int(target)), (protocol or "tcp").lower(), "ingress")


def _source_key(item: Any) -> Any:
    return item.get("source") if isinstance(item, Mapping) else item


def _target_key(item: Any) -> Any:
    if isinstance(item, Mapping):
        return item.get("target")
    if isinstance(item, str):
        parts = item.split(":")
        return parts[0] if len(parts) == 1 else parts[1]
    return repr(item)


def _by_key(base: list[Any], over: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    """``base`` with each entry of ``over`` in place of the one of the same key, or added."""
    out = list(base)
    for item in over:
        found = [i for i, old in enumerate(out) if key(old) == key(item)]
        if found:
            out[found[0]] = item
        else:
            out.append(item)
    return out


_LIST_KEYS: Final[dict[str, Callable[[Any], Any]]] = {
    "ports": _port_key,
    "secrets": _source_key,
    "configs": _source_key,
    "volumes": _target_key,
}


def _network_map(value: Any) -> Any:
    return {str(name): None for name in value} if isinstance(value, list) else value


def _merged_networks(base: Any, over: Any) -> Any:
    base, over = _network_map(base), _network_map(over)
    if not (isinstance(base, Mapping) and isinstance(over, Mapping)):
        return over
    out = dict(base)
    for name, options in over.items():
        if options or name not in out:  # a bare name keeps the earlier options
            out[name] = options
    return out


def _merged_logging(base: Any, over: Any) -> Any:
    if not (isinstance(base, Mapping) and isinstance(over, Mapping)):
        return over
    old, new = base.get("driver"), over.get("driver")
    if old and new and old != new:
        return over
    return _merged(base, over)


def _merged(base: Any, over: Any) -> Any:
    """Mappings key by key, lists appended to, anything else replaced."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merged(out[key], value) if out.get(key) is not None else value
        return out
    if isinstance(base, list) and isinstance(over, list):
        return base + [item for item in over if item not in base]
    return over


def _merged_service(base: Any, over: Any) -> Any:
    if not (isinstance(base, Mapping) and isinstance(over, Mapping)):
        return over
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if old is None or value is None or key in _REPLACED:
            out[key] = value
        elif key in _LIST_KEYS and isinstance(old, list) and isinstance(value, list):
            out[key] = _by_key(old, value, _LIST_KEYS[key])
        elif key == "networks":
            out[key] = _merged_networks(old, value)
        elif key == "ulimits" and isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = {**old, **value}
        elif key == "logging":
            out[key] = _merged_logging(old, value)
        elif key == "healthcheck" and isinstance(value, Mapping) and "test" in value:
            out[key] = {**_merged(old, value), "test": value["test"]}
        else:
            out[key] = _merged(old, value)
    return out


def _merged_top(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if key == "services" and isinstance(old, Mapping) and isinstance(value, Mapping):
            services = dict(old)
            for name, service in value.items():
                services[name] = (
                    _merged_service(services[name], service) if name in services else service
                )
            out[key] = services
        elif key in _OBJECT_SECTIONS and isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = {**old, **value}
        else:
            out[key] = value
    return out


def merge_documents(documents: list[Any], names: list[str]) -> dict[str, Any]:
    """The files merged in order (module rules); each must be a mapping."""
    merged: dict[str, Any] = {}
    for document, name in zip(documents, names, strict=True):
        if not isinstance(document, Mapping):
            raise ComposeError(
                "", f"{name}: expected a mapping at the top, got {type_name(document)}"
            )
        services = document.get("services")
        if isinstance(services, Mapping):
            document = {
                **document,
                "services": {k: _mapping_form(v, f"services.{k}") for k, v in services.items()},
            }
        merged = _merged_top(merged, document)
    return merged
