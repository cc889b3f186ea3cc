"""``/secrets`` and ``/configs``: list (filters), create, inspect, update, delete.

An update changes labels only, as Docker's (the control API's ``update``: data, when sent,
must be what is stored: rotate by creating a new one). A secret's data never comes back;
a config's does, in base64 as Docker's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

from aiohttp import web

from actors.engine_api.app import (
    ENGINE,
    json_body,
    remove_when_released,
    reply,
    request_version,
    route,
)
from actors.engine_api.compat import check_templating
from actors.engine_api.errors import bad_request, not_supported
from actors.engine_api.listing import FILE_FILTERS, keep_file
from actors.engine_api.objects import docker_config, docker_secret
from actors.engine_api.wire import parse_filters, query_int

__all__ = ["add_routes", "file_spec"]

KINDS = ("secret", "config")


def file_spec(kind: str, body: Any) -> dict[str, Any]:
    """Docker's SecretSpec / ConfigSpec → our spec dict (name, labels, data bytes, the
    template driver)."""
    if not isinstance(body, dict):
        raise bad_request(f"{kind} create: the body must be a {kind.capitalize()}Spec object")
    if body.get("Driver"):
        raise not_supported(f"{kind} drivers ({kind.capitalize()}Spec.Driver)")
    templating = _templating(kind, body.get("Templating"))
    name = body.get("Name")
    labels = body.get("Labels") or {}
    data = body.get("Data") or ""
    if not isinstance(name, str):
        raise bad_request(f"{kind} create: Name is required")
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise bad_request(f"{kind} create: Labels must map strings to strings")
    if not isinstance(data, str):
        raise bad_request(f"{kind} create: Data must be base64 text")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{kind} create: Data is not valid base64") from None
    return {"name": name, "labels": labels, "data": raw, "templating": templating}


def _templating(kind: str, value: Any) -> str:
    """``Templating: {Name, Options}`` → the driver's name (checked by the control API);
    the golang driver takes no options, so options are refused rather than dropped."""
    if not value:
        return ""
    path = f"{kind.capitalize()}Spec.Templating"
    if not isinstance(value, dict) or not isinstance(value.get("Name", ""), str):
        raise bad_request(f"{kind} create: {path} must be an object with a Name")
    if value.get("Options"):
        raise not_supported(f"{path}.Options (the golang template driver takes none)")
    return str(value.get("Name", ""))


def _handlers(kind: str) -> dict[str, Any]:
    shown = docker_secret if kind == "secret" else docker_config

    async def listing(request: web.Request) -> web.StreamResponse:
        filters = parse_filters(request.query.get("filters"), FILE_FILTERS)
        control = request.app[ENGINE].control
        listed = (await control.call(f"control.{kind}.ls"))[f"{kind}s"]
        rows = [r for r in listed if keep_file(filters, r)]
        if kind == "secret":
            return reply([docker_secret(r) for r in rows])
        docs = await asyncio.gather(
            *(control.call("control.config.inspect", {"config": r["id"]}) for r in rows)
        )
        return reply([docker_config(d["config"]) for d in docs])

    async def create(request: web.Request) -> web.StreamResponse:
        body = await json_body(request, f"{kind} create")
        check_templating(kind, request_version(request), body)
        spec = file_spec(kind, body)
        created = await request.app[ENGINE].control.call(f"control.{kind}.create", {"spec": spec})
        return reply({"ID": created["id"]}, 201)

    async def inspect(request: web.Request) -> web.StreamResponse:
        control = request.app[ENGINE].control
        found = await control.call(f"control.{kind}.inspect", {kind: request.match_info["id"]})
        return reply(shown(found[kind]))

    async def update(request: web.Request) -> web.StreamResponse:
        control = request.app[ENGINE].control
        version = query_int(request.query, "version")
        if version is None:
            raise bad_request(f"{kind} update needs the version it read (?version=N)")
        body = await json_body(request, f"{kind} update")
        if not isinstance(body, dict):
            raise bad_request(f"{kind} update: the body must be a {kind.capitalize()}Spec")
        ref = request.match_info["id"]
        found = (await control.call(f"control.{kind}.inspect", {kind: ref}))[kind]
        wanted = file_spec(kind, {**body, "Name": body.get("Name") or found["spec"]["name"]})
        if wanted["name"] != found["spec"]["name"]:
            raise bad_request("only updates to Labels are allowed (the name cannot change)")
        if "Templating" in body and wanted["templating"] != found["spec"].get("templating", ""):
            raise bad_request("only updates to Labels are allowed (Templating cannot change)")
        update: dict[str, Any] = {kind: found["id"], "version": version, "labels": wanted["labels"]}
        if body.get("Data"):
            update["data"] = wanted["data"]
        await control.call(f"control.{kind}.update", update)
        return web.Response(status=200)

    async def delete(request: web.Request) -> web.StreamResponse:
        await remove_when_released(request.app[ENGINE], kind, request.match_info["id"])
        return web.Response(status=204)

    return {"list": listing, "create": create, "inspect": inspect, "update": update, "rm": delete}


def add_routes(app: web.Application) -> None:
    for kind in KINDS:
        h = _handlers(kind)
        route(app, "GET", f"/{kind}s", h["list"])
        route(app, "POST", f"/{kind}s/create", h["create"])
        route(app, "GET", f"/{kind}s/{{id}}", h["inspect"])
        route(app, "POST", f"/{kind}s/{{id}}/update", h["update"])
        route(app, "DELETE", f"/{kind}s/{{id}}", h["rm"])
