"""``/_ping``, ``/version``, ``/info``, ``/swarm`` and ``/events``.

``/swarm/update`` changes what the control API's ``cluster update`` can change (task
history, snapshot interval, heartbeat period, certificate expiry, autolock) and rotates
join tokens and the unlock key; a change to any other field is refused naming it.
``/swarm/init|join`` answer as Docker does on a node already in a swarm; ``/swarm/leave``
is the control API's ``cluster leave`` (actors/node/leaving.py): this node leaves and
swarm-node exits once it has answered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any, Final

from aiohttp import web

from actors.engine_api.app import ENGINE, json_body, reply, route
from actors.engine_api.errors import EngineError, bad_request
from actors.engine_api.events import EVENT_FILTERS, docker_event, local_match, to_control
from actors.engine_api.objects import docker_swarm
from actors.engine_api.swarm_update import ca_rotation_body, cluster_changes
from actors.engine_api.versions import API_VERSION, MIN_API_VERSION
from actors.engine_api.wire import parse_filters, parse_time, query_bool, query_int, rfc3339
from api.version import VERSION

__all__ = ["add_routes"]

LEAVE_TIMEOUT: Final = 120.0  # a leave waits for the tasks to stop, a manager to leave Raft
EVENT_LEASE: Final = 10.0  # seconds of one control.events lease: a gone client is noticed


async def ping(request: web.Request) -> web.StreamResponse:
    body = "" if request.method == "HEAD" else "OK"
    response = web.Response(text=body, content_type="text/plain")
    response.headers["Swarm"] = "active/manager"
    response.headers["Cache-Control"] = "no-cache, no-store, must-revalidate"
    return response


async def version(request: web.Request) -> web.StreamResponse:
    return reply(
        {
            "Platform": {"Name": "swarmnode"},
            "Components": [
                {
                    "Name": "Engine",
                    "Version": VERSION,
                    "Details": {
                        "ApiVersion": API_VERSION,
                        "MinAPIVersion": MIN_API_VERSION,
                        "Os": "linux",
                        "Arch": "amd64",
                    },
                }
            ],
            "Version": VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": "",
            "BuildTime": "",
        }
    )


def _own_info(me: dict[str, Any], *, manager: bool, error: str = "") -> dict[str, Any]:
    """/info from this node's own identity only: a worker's (the cluster's state is the
    managers' to show), or a manager's that knows no leader (``error`` says so, as
    dockerd's: no nodes, managers or cluster, which it could only show stale)."""
    return {
        "ID": me["node_id"],
        "ServerVersion": VERSION,
        "OperatingSystem": "swarmnode",
        "OSType": "linux",
        "SystemTime": rfc3339(time.time()),
        "Warnings": [],
        "Swarm": {
            "NodeID": me["node_id"],
            "LocalNodeState": "active",
            "ControlAvailable": manager,
            "Error": error,
            "RemoteManagers": [],
        },
    }


async def info(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    me = await engine.node_identity()
    if me.get("role") != "manager":
        return reply(_own_info(me, manager=False))
    try:
        cluster, listed = await asyncio.gather(
            engine.control.call("control.cluster.inspect"),
            engine.control.listing("control.node.ls", {}, "nodes"),
        )
    except EngineError as err:
        if err.code != "no_leader":
            raise
        return reply(_own_info(me, manager=True, error=err.message))
    rows = listed["nodes"]
    own: dict[str, Any] = next((r for r in rows if r["id"] == me["node_id"]), {})
    node = (await engine.control.call("control.node.inspect", {"node": me["node_id"]}))["node"]
    desc = node.get("description") or {}
    managers = [r for r in rows if r.get("manager_status")]
    return reply(
        {
            "ID": me["node_id"],
            "Name": desc.get("hostname", ""),
            "ServerVersion": VERSION,
            "OperatingSystem": "swarmnode",
            "OSType": (desc.get("platform") or {}).get("os") or "linux",
            "Architecture": (desc.get("platform") or {}).get("architecture", ""),
            "NCPU": int((desc.get("resources") or {}).get("nano_cpus", 0)) // 1_000_000_000,
            "MemTotal": int((desc.get("resources") or {}).get("memory_bytes", 0)),
            "Containers": 0,
            "ContainersRunning": 0,
            "ContainersPaused": 0,
            "ContainersStopped": 0,
            "Images": 0,
            "Labels": [f"{k}={v}" for k, v in (own.get("labels") or {}).items()],
            "SystemTime": rfc3339(time.time()),
            "ExperimentalBuild": False,
            "Warnings": [],
            "Swarm": {
                "NodeID": me["node_id"],
                "NodeAddr": own.get("address", ""),  # an IP, as Docker's (no port)
                "LocalNodeState": "active",
                "ControlAvailable": True,
                "Error": "",
                "RemoteManagers": [
                    {"NodeID": r["id"], "Addr": r["manager_status"]["addr"]} for r in managers
                ],
                "Nodes": len(rows),
                "Managers": len(managers),
                "Cluster": docker_swarm(cluster["cluster"]),
            },
        }
    )


async def swarm_inspect(request: web.Request) -> web.StreamResponse:
    control = request.app[ENGINE].control
    cluster, worker, manager = await asyncio.gather(
        control.call("control.cluster.inspect"),
        control.call("control.cluster.join_token", {"role": "worker"}),
        control.call("control.cluster.join_token", {"role": "manager"}),
    )
    tokens = {"worker": worker["token"], "manager": manager["token"]}
    return reply(docker_swarm(cluster["cluster"], tokens))


async def swarm_update(request: web.Request) -> web.StreamResponse:
    control = request.app[ENGINE].control
    query = request.query
    version = query_int(query, "version")
    if version is None:
        raise bad_request("swarm update needs the version it read (?version=N)")
    spec = await json_body(request, "swarm update")
    current = (await control.call("control.cluster.inspect"))["cluster"]
    if int(current["meta"]["version"]) != version:
        raise EngineError(
            409, f"update out of sequence: the swarm is at version {current['meta']['version']}"
        )
    changes = cluster_changes(current, spec)
    rotation = ca_rotation_body(current, spec)
    if changes:  # the version is checked again in the write (another client may be between)
        await control.call("control.cluster.update", {**changes, "version": version})
    if rotation is not None:  # docker swarm ca --rotate
        await control.call("control.cluster.ca", rotation)
    for flag, role in (("rotateWorkerToken", "worker"), ("rotateManagerToken", "manager")):
        if query_bool(query, flag):
            await control.call("control.cluster.join_token", {"role": role, "rotate": True})
    if query_bool(query, "rotateManagerUnlockKey"):
        await control.call("control.cluster.unlock_key", {"rotate": True})
    return web.Response(status=200)


async def unlock_key(request: web.Request) -> web.StreamResponse:
    reply_ = await request.app[ENGINE].control.call("control.cluster.unlock_key")
    return reply({"UnlockKey": reply_.get("unlock_key", "")})


async def unlock(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, "swarm unlock")
    key = body.get("UnlockKey") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key:
        raise bad_request("swarm unlock: UnlockKey is required")
    await request.app[ENGINE].control.call("control.unlock", {"unlock_key": key})
    return web.Response(status=200)


async def already_in_swarm(request: web.Request) -> web.StreamResponse:
    raise EngineError(
        503,
        "This node is already part of a swarm. swarmnode nodes join and leave with "
        "swarm-node's own flags (--join-addr, --join-token), not through the Engine API.",
    )


async def swarm_leave(request: web.Request) -> web.StreamResponse:
    force = query_bool(request.query, "force")
    control = request.app[ENGINE].control
    await control.call("control.cluster.leave", {"force": force}, timeout=LEAVE_TIMEOUT)
    return web.Response(status=200)


async def events(request: web.Request) -> web.StreamResponse:
    """Docker's event stream: one JSON object per line, swarm events only."""
    engine = request.app[ENGINE]
    query = request.query
    filters = parse_filters(query.get("filters"), EVENT_FILTERS)
    body = to_control(filters)
    until = parse_time(query["until"], "until") if query.get("until") else None
    if query.get("since") or until is not None:
        # Docker shows the events it still holds of those since then, never an error; an
        # until alone: every event it holds up to then (dockerd's loadBufferedEvents)
        body["since_time"] = parse_time(query["since"], "since") if query.get("since") else 0.0
        body["since_held"] = True
    if until is not None:
        body["until_time"] = until
    engine.open_stream()
    try:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.headers["Api-Version"] = API_VERSION
        await _pump_events(request, response, body, filters)
        return response
    finally:
        engine.close_stream()


async def _pump_events(
    request: web.Request, response: web.StreamResponse, body: dict[str, Any], filters: Any
) -> None:
    """The watch's events into ``response``, prepared once the control API opened the
    watch (its first frame): a refusal before that (events since a time whose history
    is gone, a bad filter) is an error answer the client shows, not a line in a stream."""
    engine = request.app[ENGINE]
    loop = asyncio.get_running_loop()
    while True:
        frames: Iterator[dict[str, Any]] = engine.control.stream(
            "control.events", {**body, "wait": EVENT_LEASE}, frame_timeout=EVENT_LEASE + 15
        )
        end = ""
        try:
            while True:
                try:
                    frame = await loop.run_in_executor(None, next, frames, None)
                except EngineError as err:
                    if not response.prepared:
                        raise
                    # the headers are sent: say it in the stream, as Docker does, and end
                    await response.write(json.dumps({"message": err.message}).encode() + b"\n")
                    return
                if not response.prepared:
                    await response.prepare(request)
                if frame is None:
                    break
                for event in frame.get("events") or ():
                    shown = docker_event(event)
                    if shown is not None and local_match(filters, event):
                        await response.write(json.dumps(shown).encode() + b"\n")
                body["since_position"] = int(frame.get("position", 0))
                body.pop("since_time", None)
                end = str(frame.get("end") or "")
        finally:
            frames.close()  # type: ignore[attr-defined]
        if end != "lease" or request.transport is None or request.transport.is_closing():
            return


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/_ping", ping)
    route(app, "HEAD", "/_ping", ping)
    route(app, "GET", "/version", version)
    route(app, "GET", "/info", info)
    route(app, "GET", "/swarm", swarm_inspect)
    route(app, "POST", "/swarm/update", swarm_update)
    route(app, "GET", "/swarm/unlockkey", unlock_key)
    route(app, "POST", "/swarm/unlock", unlock)
    route(app, "POST", "/swarm/init", already_in_swarm)
    route(app, "POST", "/swarm/join", already_in_swarm)
    route(app, "POST", "/swarm/leave", swarm_leave)
    route(app, "GET", "/events", events)
