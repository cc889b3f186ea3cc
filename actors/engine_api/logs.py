"""``/services/{id}/logs`` and ``/tasks/{id}/logs``: tasks' output through the leader's log
broker (the control API's ``control.logs.subscribe`` and ``control.logs.read``), written
as Docker's multiplexed stream (log_frames.py).

Reads are long polls (``wait``), awaited without holding a thread. A subscription lost to
a leader change is taken again from just after the last line sent, as swarmctl does: the
new subscribe is tried again while no leader takes it, for up to ``RESUBSCRIBE_FOR``
seconds. The stream ends when the broker says ``done`` (no ``follow``) or the client goes
away, and then the subscription is closed (``control.logs.close``) so its nodes stop at
once; one that fails once its headers are out ends with dockerd's ``Error grabbing logs``
frame, so the client says why instead of ending as if complete.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from aiohttp import web

from actors.engine_api.app import ENGINE, Engine, request_version, route
from actors.engine_api.compat import logs_content_type
from actors.engine_api.errors import EngineError
from actors.engine_api.log_frames import LogQuery, error_frame, log_frame, parse_log_query
from actors.engine_api.objects import service_spec_of
from api.codec_objects import decode
from api.specs import ServiceSpec

__all__ = ["add_routes", "subscription_lost"]

READ_WAIT: Final = 2.0  # seconds one read may wait at the broker
CLOSE_TIMEOUT: Final = 5.0
# refusals a leader change brings (the old leader's broker gone, no leader yet, no answer)
GONE_CODES: Final = frozenset({"unknown_subscription", "unavailable", "not_leader", "timeout"})
RESUBSCRIBE_FOR: Final = 60.0  # seconds a lost subscription is tried again (swarmctl's)
RETRY_PAUSE: Final = 0.5
RESUBSCRIBE_TRIES: Final = 20  # losses in a row, no read between: give up


def subscription_lost(err: EngineError) -> bool:
    """Whether a refusal is one a new subscription (with a new leader) may get past."""
    return err.code in GONE_CODES


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


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def _subscribe_again(
    request: web.Request, engine: Engine, selector: dict[str, Any], options: dict[str, Any]
) -> str:
    """A new subscription for one lost: tried every ``RETRY_PAUSE`` while the refusal is a
    leader change's, for ``RESUBSCRIBE_FOR`` seconds; the last refusal after that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RESUBSCRIBE_FOR
    while True:
        try:
            return await _subscribe(engine, selector, options)
        except EngineError as err:
            if not subscription_lost(err) or loop.time() > deadline or _client_gone(request):
                raise
        await asyncio.sleep(RETRY_PAUSE)


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
    content_type = logs_content_type(request_version(request), tty)
    response = web.StreamResponse(headers={"Content-Type": content_type})
    sub_id = await _subscribe(engine, selector, options)  # refusals before the headers
    done = False
    try:
        engine.open_stream()
    except EngineError:
        _close(engine, sub_id)
        raise
    try:
        await response.prepare(request)
        contexts: dict[str, dict[str, str]] = {}
        after, last_ts, lost = 0, -1, 0
        while not _client_gone(request):
            try:
                reply = await engine.control.call(
                    "control.logs.read",
                    {"subscription_id": sub_id, "after": after, "wait": READ_WAIT},
                )
            except EngineError as err:
                lost += 1
                if not subscription_lost(err) or lost > RESUBSCRIBE_TRIES:
                    raise
                if last_ts >= 0:  # from just after the last line sent
                    options = {**options, "since": max(options["since"], last_ts + 1), "tail": -1}
                sub_id, after = await _subscribe_again(request, engine, selector, options), 0
                continue
            after, lost = int(reply["seq"]), 0
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
    except EngineError as err:
        # the headers are sent: a refusal now ends the stream, saying why (as dockerd)
        if response.prepared:
            with contextlib.suppress(ConnectionResetError):
                await response.write(error_frame(err.message, raw=tty))
        return response
    except ConnectionResetError:
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
