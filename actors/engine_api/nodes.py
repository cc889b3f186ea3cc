"""``/nodes``: list (filters), inspect, update (a whole NodeSpec at a version), delete."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from actors.ca.tokens import ca_digest
from actors.engine_api.app import ENGINE, json_body, reply, route
from actors.engine_api.errors import bad_request, not_supported
from actors.engine_api.objects import docker_node, root_pems_of
from actors.engine_api.wire import parse_filters, query_bool, query_int
from api.list_filters import NODE_FILTER_KEYS

__all__ = ["add_routes", "node_update_body", "roots_by_digest"]


async def node_list(request: web.Request) -> web.StreamResponse:
    """The manager filters (control.node.ls ``filters``: api/list_filters.py, the rules
    swarmctl's ``node ls --filter`` uses); a bad filter is its 400."""
    filters = parse_filters(request.query.get("filters"), NODE_FILTER_KEYS)
    words = [f"{key}={value}" for key, values in filters.items() for value in values]
    control = request.app[ENGINE].control
    listed, cluster = await asyncio.gather(
        control.listing("control.node.ls", {"full": True, "filters": words}, "nodes"),
        control.call("control.cluster.inspect"),
    )
    roots = roots_by_digest(cluster["cluster"])
    return reply([docker_node(r["object"], roots) for r in listed["nodes"]])


async def node_inspect(request: web.Request) -> web.StreamResponse:
    control = request.app[ENGINE].control
    found, cluster = await asyncio.gather(
        control.call("control.node.inspect", {"node": request.match_info["id"]}),
        control.call("control.cluster.inspect"),
    )
    return reply(docker_node(found["node"], roots_by_digest(cluster["cluster"])))


def roots_by_digest(cluster: dict[str, Any]) -> dict[str, str]:
    """The cluster's roots (PEM) by the digests nodes report them by (a node's TLSInfo)."""
    return {ca_digest(pem.encode("ascii")): pem for pem in root_pems_of(cluster)}


def node_update_body(current: dict[str, Any], spec: Any, version: int) -> dict[str, Any]:
    """A Docker NodeSpec over the node document ``current`` → control.node.update body."""
    if not isinstance(spec, dict):
        raise bad_request("node update: the body must be a NodeSpec object")
    have = current.get("spec") or {}
    if spec.get("Name", "") not in ("", have.get("name", "")):
        raise not_supported("renaming a node (NodeSpec.Name)")
    labels = spec.get("Labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise bad_request("node update: Labels must map strings to strings")
    old_labels = have.get("labels") or {}
    body: dict[str, Any] = {"node": current["id"], "version": version}
    added = {k: v for k, v in labels.items() if old_labels.get(k) != v}
    removed = [k for k in old_labels if k not in labels]
    if added:
        body["label_add"] = added
    if removed:
        body["label_rm"] = removed
    if spec.get("Availability"):
        body["availability"] = str(spec["Availability"])
    if spec.get("Role"):
        body["role"] = str(spec["Role"])
    return body


async def node_update(request: web.Request) -> web.StreamResponse:
    control = request.app[ENGINE].control
    version = query_int(request.query, "version")
    if version is None:
        raise bad_request("node update needs the version it read (?version=N)")
    spec = await json_body(request, "node update")
    current = await control.call("control.node.inspect", {"node": request.match_info["id"]})
    await control.call("control.node.update", node_update_body(current["node"], spec, version))
    return web.Response(status=200)


async def node_delete(request: web.Request) -> web.StreamResponse:
    force = query_bool(request.query, "force")
    body = {"node": request.match_info["id"], "force": force}
    await request.app[ENGINE].control.call("control.node.rm", body)
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/nodes", node_list)
    route(app, "GET", "/nodes/{id}", node_inspect)
    route(app, "POST", "/nodes/{id}/update", node_update)
    route(app, "DELETE", "/nodes/{id}", node_delete)
