"""``/networks``: list (filters), inspect, create, delete, over the control API's networks
(one bridge per node where a task attached to it runs; no overlay: the control API says so
when a client asks for one). Connecting containers and pruning are the engine's, not the
swarm's: they answer 501.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from actors.engine_api.app import (
    ENGINE,
    json_body,
    remove_when_released,
    reply,
    request_version,
    route,
)
from actors.engine_api.compat import ENABLE_IPV4_SINCE
from actors.engine_api.errors import EngineError, bad_request, not_supported
from actors.engine_api.versions import API_VERSION, at_least
from actors.engine_api.wire import Filters, label_matches, parse_filters, rfc3339

__all__ = [
    "NETWORK_FILTERS",
    "STACK_NAMESPACE",
    "add_routes",
    "docker_network",
    "keep_network",
    "network_spec",
    "stack_driver_hint",
]

NETWORK_FILTERS: Final = ("dangling", "driver", "id", "label", "name", "scope", "type")
STACK_NAMESPACE: Final = "com.docker.stack.namespace"  # the label docker stack deploy sets


def docker_network(row: dict[str, Any], version: str = API_VERSION) -> dict[str, Any]:
    """A network row (control.network.ls / inspect summary) → Docker's Network, as a
    request at ``version`` sees it (``EnableIPv4`` from 1.48: ours are IPv4 bridges)."""
    out: dict[str, Any] = {
        "Name": row["name"],
        "Id": row["id"],
        "Created": rfc3339(row.get("created_at")),
        "Scope": "swarm",
        "Driver": row.get("driver", "bridge"),
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": []},
        "Internal": bool(row.get("internal")),
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": {},
        "Labels": dict(row.get("labels") or {}),
    }
    if at_least(version, ENABLE_IPV4_SINCE):
        out["EnableIPv4"] = True
    return out


def keep_network(filters: Filters, row: dict[str, Any]) -> bool:
    for scope in filters.get("scope", ()):
        if scope not in ("swarm", "global", "local"):
            raise bad_request(f"invalid filter 'scope={scope}'")
    for kind in filters.get("type", ()):
        if kind not in ("custom", "builtin"):
            raise bad_request(f"invalid filter 'type={kind}'")
    dangling = filters.get("dangling")
    return (
        all(
            not filters.get(key) or any(test(v) for v in filters[key])
            for key, test in (
                ("id", lambda v: str(row["id"]).startswith(v)),
                ("name", lambda v: v in str(row["name"])),  # Docker: a substring
                ("driver", lambda v: v == row.get("driver")),
                ("scope", lambda v: v == "swarm"),
                ("type", lambda v: v == "custom"),
            )
        )
        and (not dangling or (dangling[0] in ("1", "true")) == (not row.get("services")))
        and label_matches(row.get("labels") or {}, filters.get("label", ()))
    )


def network_spec(body: Any) -> dict[str, Any]:
    """Docker's NetworkCreateRequest → our NetworkSpec dict; what we cannot honour is
    refused by name (the driver is the control API's to judge)."""
    if not isinstance(body, dict):
        raise bad_request("network create: the body must be a NetworkCreateRequest object")
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise bad_request("network create: Name is required")
    for key in ("Attachable", "Ingress", "EnableIPv6", "ConfigOnly"):
        if body.get(key):
            raise not_supported(f"network {key}")
    if body.get("EnableIPv4") is False:  # 1.48's; ours carry IPv4 always
        raise not_supported("a network without IPv4 (EnableIPv4 false)")
    if body.get("ConfigFrom") and (body["ConfigFrom"] or {}).get("Network"):
        raise not_supported("network ConfigFrom")
    if body.get("Options"):
        raise not_supported("network driver options (Options)")
    ipam = body.get("IPAM") or {}
    if ipam.get("Config") or ipam.get("Options") or ipam.get("Driver") not in (None, "", "default"):
        raise not_supported("network IPAM settings")
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise bad_request("network create: Labels must map strings to strings")
    return {
        "name": name,
        "labels": labels,
        "driver": str(body.get("Driver") or "bridge"),
        "internal": bool(body.get("Internal")),
    }


async def network_list(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"), NETWORK_FILTERS)
    listed = await request.app[ENGINE].control.call("control.network.ls")
    version = request_version(request)
    shown = [docker_network(r, version) for r in listed["networks"] if keep_network(filters, r)]
    return reply(shown)


async def network_inspect(request: web.Request) -> web.StreamResponse:
    control = request.app[ENGINE].control
    found = await control.call("control.network.inspect", {"network": request.match_info["id"]})
    return reply(docker_network(found["summary"], request_version(request)))


def stack_driver_hint(err: EngineError, spec: dict[str, Any]) -> EngineError:
    """``err`` (a refused network create) with what to write in the compose file when
    ``docker stack deploy`` asked for ``overlay``: the CLI asks for it for every network
    whose compose file names no driver (the stack's default network among them), so the
    user never wrote the word the refusal names."""
    if err.code != "invalid_spec" or spec["driver"] != "overlay":
        return err
    if STACK_NAMESPACE not in spec["labels"]:
        return err
    return EngineError(
        err.status,
        f"{err.message}; docker stack deploy asks for 'overlay' when the compose file names "
        "no driver: give the stack's networks 'driver: bridge' (a compose file without "
        "networks: add 'networks: {default: {driver: bridge}}')",
        err.code,
    )


async def network_create(request: web.Request) -> web.StreamResponse:
    spec = network_spec(await json_body(request, "network create"))
    try:
        created = await request.app[ENGINE].control.call("control.network.create", {"spec": spec})
    except EngineError as err:
        raise stack_driver_hint(err, spec) from None
    return reply({"Id": created["id"], "Warning": ""}, 201)


async def network_delete(request: web.Request) -> web.StreamResponse:
    await remove_when_released(request.app[ENGINE], "network", request.match_info["id"])
    return web.Response(status=204)


async def engine_only(request: web.Request) -> web.StreamResponse:
    raise not_supported(f"{request.method} {request.path} (containers are the engine's)")


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/networks", network_list)
    route(app, "GET", "/networks/{id}", network_inspect)
    route(app, "POST", "/networks/create", network_create)
    route(app, "DELETE", "/networks/{id}", network_delete)
    route(app, "POST", "/networks/{id}/connect", engine_only)
    route(app, "POST", "/networks/{id}/disconnect", engine_only)
    route(app, "POST", "/networks/prune", engine_only)
