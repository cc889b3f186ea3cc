"""``/services/{id}/logs`` and ``/tasks/{id}/logs``: tasks' output through the leader's log
broker (the control API's ``control.logs.subscribe`` and ``control.logs.read``), written
as Docker's multiplexed stream (log_frames.py).

Reads are long polls (``wait``), awaited without holding a thread. A subscription lost to
a leader change is taken again from just after the last line sent, as swarmctl does; the
stream ends when the broker says ``done`` (no ``follow``) or the client goes away, and then
the subscription is closed (``control.logs.close``) so its nodes stop at once.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from actors.engine_api.app import ENGINE, Engine, request_version, route
from actors.engine_api.compat import logs_content_type
from actors.engine_api.errors import EngineError
from actors.engine_api.log_frames import LogQuery, log_frame, parse_log_query
from actors.engine_api.objects import service_spec_of
from api.codec_objects import decode
from api.specs import ServiceSpec

__all__ = ["add_routes"]

READ_WAIT: Final = 2.0  # seconds one read may wait at the broker
CLOSE_TIMEOUT: Final = 5.0
GONE_CODES: Final = frozenset({"unknown_subscription", "unavailable", "not_leader"})
RESUBSCRIBE_TRIES: Final = 20


async def service_logs(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    query = parse_log_query(request.query)
    found = await engine.control.call(
        "control.service.inspect", {"service": request.match_info["id"]}
    )
    service_id = str(found["service"]["id"])
    tty = service_spec_of(found["service"]).task.container.tty
    selector = {"services": [service_id]}
    return await _stream(request, engine, selector, query, service_id, tty)


async def task_logs(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    query = parse_log_query(request.query)
    found = await engine.control.call("control.task.inspect", {"task": request.match_info["id"]})
    task = found["task"]
    tty = decode(ServiceSpec, {"task": task["spec"]}, "task", strict=False).task.container.tty
    selector = {"tasks": [str(task["id"])]}
    return await _stream(request, engine, selector, query, task["service_id"], tty)


async def _subscribe(engine: Engine, selector: dict[str, Any], options: dict[str, Any]) -> str:
    reply = await engine.control.call(
        "control.logs.subscribe", {"selector": selector, "options": options}
    )
    return str(reply["subscription_id"])


async def _stream(
    request: web.Request,
    engine: Engine,
    selector: dict[str, Any],
    query: LogQuery,
    service_id: str,
    tty: bool,
) -> web.StreamResponse:
    """``tty``: the service's (a task's) container has a TTY: its lines go raw, unframed,
    as dockerd's; the Content-Type says which, by the request's version (compat.py)."""
    options = query.options()
    sub_id = await _subscribe(engine, selector, options)  # refusals before the headers
    done = False
    try:
        engine.open_stream()
    except EngineError:
        _close(engine, sub_id)
        raise
    try:
        content_type = logs_content_type(request_version(request), tty)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        contexts: dict[str, dict[str, str]] = {}
        after, last_ts, lost = 0, -1, 0
        while request.transport is not None and not request.transport.is_closing():
            try:
                reply = await engine.control.call(
                    "control.logs.read",
                    {"subscription_id": sub_id, "after": after, "wait": READ_WAIT},
                )
            except EngineError as err:
                lost += 1
                if err.code not in GONE_CODES or lost > RESUBSCRIBE_TRIES:
                    raise
                if last_ts >= 0:  # from just after the last line sent
                    options = {**options, "since": max(options["since"], last_ts + 1), "tail": -1}
                sub_id, after = await _subscribe(engine, selector, options), 0
                continue
            after = int(reply["seq"])
            for ctx in reply.get("tasks") or ():
                contexts[str(ctx["id"])] = {
                    "node_id": str(ctx.get("node_id", "")),
                    "service_id": service_id,
                    "task_id": str(ctx["id"]),
                }
            for record in reply.get("records") or ():
                task_id = str(record.get("task_id", ""))
                context = contexts.get(task_id) or {"service_id": service_id, "task_id": task_id}
                frame = log_frame(query, record, context, raw=tty)
                if frame is not None:
                    await response.write(frame)
                last_ts = max(last_ts, int(record.get("ts", 0)))
            if reply.get("done"):
                done = True
                break
        return response
    except (ConnectionResetError, EngineError):
        # the headers are sent: a refusal now can only end the stream
        return response
    finally:
        engine.close_stream()
        if not done:
            _close(engine, sub_id)


def _close(engine: Engine, sub_id: str) -> None:
    engine.control.fire("control.logs.close", {"subscription_id": sub_id}, timeout=CLOSE_TIMEOUT)


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/services/{id}/logs", service_logs)
    route(app, "GET", "/tasks/{id}/logs", task_logs)
