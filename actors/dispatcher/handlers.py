"""The dispatcher's entries in the remote endpoint's handler table.

The endpoint is built once per node, before any dispatcher runs (the dispatcher is
leader-only), so the handlers look the dispatcher up on every request through ``find``
and answer ``unavailable`` when none runs here (this manager is not the leader). They
decode object bodies on the endpoint's handler threads and ask the dispatcher actor, with
a timeout, to do the rest; the session handler returns at once (the actor streams the
session's frames itself, from then on).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import pykka

from actors.dispatcher.actor import Dispatcher
from actors.dispatcher.sessions import SessionError
from actors.dispatcher.wire import (
    SESSION,
    SESSION_HEARTBEAT,
    SESSION_STATUS,
    parse_session_request,
    parse_status_updates,
)
from api.codec_objects import ObjectDecodeError
from api.errors import ErrorCode
from api.validation import InvalidSpec, validate_node_description
from transport.endpoint import Handler, Request

__all__ = ["UNAVAILABLE", "dispatcher_handlers"]

UNAVAILABLE: Final = "unavailable"

FindDispatcher = Callable[[], "pykka.ActorRef[Dispatcher] | None"]


def dispatcher_handlers(find: FindDispatcher, *, timeout: float = 5.0) -> dict[str, Handler]:
    """``{"dispatcher.session": ..., "dispatcher.heartbeat": ..., "dispatcher.status": ...}``
    for the remote endpoint's table. ``find`` returns the running dispatcher or None."""

    def proxy(request: Request) -> Any | None:
        ref = find()
        if ref is None or not ref.is_alive():
            request.error(UNAVAILABLE, "no dispatcher runs on this manager (not the leader)")
            return None
        return ref.proxy()

    def ask(request: Request, call: Callable[[Any], Any]) -> tuple[bool, Any]:
        dispatcher = proxy(request)
        if dispatcher is None:
            return False, None
        try:
            return True, call(dispatcher).get(timeout=timeout)
        except SessionError as exc:
            request.error(exc.code, exc.message)
        except (pykka.ActorDeadError, pykka.Timeout):
            request.error(UNAVAILABLE, "the dispatcher did not answer")
        return False, None

    def session(request: Request) -> Mapping[str, Any] | None:
        try:
            _node_id, description, _addr = parse_session_request(request.body)
            validate_node_description(description)
        except (ObjectDecodeError, InvalidSpec) as exc:
            request.error(ErrorCode.INVALID, str(exc))
            return None
        ask(request, lambda d: d.open_session(request, description))
        return None

    def heartbeat(request: Request) -> Mapping[str, Any] | None:
        body = request.body
        ok, answer = ask(
            request,
            lambda d: d.heartbeat(str(body["node_id"]), str(body["session_id"]), request.peer_key),
        )
        if not ok:
            return None
        period, frames, role = answer
        return {"period": period, "frames": frames, "role": role}

    def status(request: Request) -> Mapping[str, Any] | None:
        body = request.body
        updates, undecodable = parse_status_updates(body["updates"])
        ok, result = ask(
            request,
            lambda d: d.report_status(
                str(body["node_id"]), str(body["session_id"]), request.peer_key, updates
            ),
        )
        if not ok:
            return None
        refused = [{"task_id": t, "reason": r} for t, r in (*undecodable, *result.refused)]
        return {"accepted": result.accepted, "refused": refused}

    return {SESSION: session, SESSION_HEARTBEAT: heartbeat, SESSION_STATUS: status}
