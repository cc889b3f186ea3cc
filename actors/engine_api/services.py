"""``/services`` (list, create, inspect, update at a version, rollback, delete) and
``/tasks`` (list, inspect): Docker's shapes over the control API's services and tasks."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, Final

from aiohttp import web

from actors.engine_api.app import ENGINE, json_body, reply, request_version, route
from actors.engine_api.compat import adjust_service_spec, list_status
from actors.engine_api.errors import EngineError, bad_request
from actors.engine_api.listing import SERVICE_FILTERS, TASK_FILTERS, keep_service, keep_task
from actors.engine_api.objects import docker_service, docker_task, service_spec_of
from actors.engine_api.service_doc import docker_spec
from actors.engine_api.service_names import random_service_name
from actors.engine_api.service_spec import from_docker_spec
from actors.engine_api.wire import parse_filters, query_bool, query_int, registry_auth
from api.codec_objects import encode

__all__ = ["add_routes"]

NAME_ATTEMPTS: Final = 3  # names tried for a service created without one
_names = random.Random()


def _with_auth(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the request's registry credentials (``--with-registry-auth``)."""
    auth = registry_auth(request.headers.get("X-Registry-Auth"))
    return {**body, "registry_auth": auth} if auth is not None else body


async def service_list(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"), SERVICE_FILTERS)
    status = list_status(request_version(request)) and query_bool(request.query, "status")
    listed = await request.app[ENGINE].control.listing(
        "control.service.ls", {"full": True}, "services"
    )
    return reply(
        [
            docker_service(row["object"], row if status else None)
            for row in listed["services"]
            if keep_service(filters, row)
        ]
    )


async def service_create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, "service create")
    spec = from_docker_spec(adjust_service_spec(body, request_version(request)))
    control = request.app[ENGINE].control
    unnamed = not spec.name
    for attempt in range(NAME_ATTEMPTS):
        if unnamed:  # Docker names it (service_names.py); another try if the name is taken
            spec = replace(spec, name=random_service_name(_names, attempt))
        try:
            created = await control.call(
                "control.service.create", _with_auth(request, {"spec": encode(spec)})
            )
            break
        except EngineError as err:
            if not unnamed or err.code != "name_conflict" or attempt == NAME_ATTEMPTS - 1:
                raise
    return reply({"ID": created["id"], "Warnings": []}, 201)


async def service_inspect(request: web.Request) -> web.StreamResponse:
    control = request.app[ENGINE].control
    found = await control.call("control.service.inspect", {"service": request.match_info["id"]})
    return reply(docker_service(found["service"]))


async def service_update(request: web.Request) -> web.StreamResponse:
    control = request.app[ENGINE].control
    query = request.query
    version = query_int(query, "version")
    if version is None:
        raise bad_request("service update needs the version it read (?version=N)")
    if query.get("registryAuthFrom", "spec") not in ("spec", "previous-spec"):
        raise bad_request(f"invalid registryAuthFrom {query['registryAuthFrom']!r}")
    ref = request.match_info["id"]
    rollback = query.get("rollback", "")
    if rollback not in ("", "previous"):
        raise bad_request(f"invalid rollback {rollback!r} (expected previous)")
    body = await json_body(request, "service update")
    if rollback:
        await control.call("control.service.rollback", {"service": ref, "version": version})
        return reply({"Warnings": []})
    current = (await control.call("control.service.inspect", {"service": ref}))["service"]
    base = service_spec_of(current)
    body = adjust_service_spec(body, request_version(request), docker_spec(base))
    spec = from_docker_spec(body, base=base)
    body = {"service": current["id"], "spec": encode(spec), "version": version}
    await control.call("control.service.update", _with_auth(request, body))
    return reply({"Warnings": []})


async def service_delete(request: web.Request) -> web.StreamResponse:
    control = request.app[ENGINE].control
    await control.call("control.service.rm", {"services": [request.match_info["id"]]})
    return web.Response(status=200)


async def task_list(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"), TASK_FILTERS)
    control = request.app[ENGINE].control
    body: dict[str, Any] = {"full": True}  # Docker lists whole tasks, as inspect shows them
    if len(filters.get("service", ())) == 1:
        body["service"] = filters["service"][0]
    listed = await control.listing("control.task.ls", body)
    labels: dict[str, dict[str, str]] = {}
    if filters.get("label"):
        services = await control.listing(
            "control.service.ls", {"all": True, "full": True}, "services"
        )
        labels = {s["id"]: s["object"]["spec"].get("labels") or {} for s in services["services"]}
    return reply(
        [
            docker_task(row["object"])
            for row in listed["tasks"]
            if keep_task(filters, row, labels.get(str(row.get("service_id")), {}))
        ]
    )


async def task_inspect(request: web.Request) -> web.StreamResponse:
    control = request.app[ENGINE].control
    found = await control.call("control.task.inspect", {"task": request.match_info["id"]})
    return reply(docker_task(found["task"]))


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/services", service_list)
    route(app, "POST", "/services/create", service_create)
    route(app, "GET", "/services/{id}", service_inspect)
    route(app, "POST", "/services/{id}/update", service_update)
    route(app, "DELETE", "/services/{id}", service_delete)
    route(app, "GET", "/tasks", task_list)
    route(app, "GET", "/tasks/{id}", task_inspect)
