"""The dispatcher's entries in the remote endpoint's handler table.

The endpoint is built once per node, before any dispatcher runs (the dispatcher is
leader-only), so the handlers look the dispatcher up on every request through ``find``
and answer ``unavailable`` when none runs here (this manager is not the leader). They
decode object bodies on the endpoint's handler threads and ask the dispatcher actor, with
a timeout, to do the rest; the session handler returns at once (the actor streams the
session's frames itself, from then on).

Every call acts for the node of the caller's certificate (``certified_node``: CURVE key ->
node id, from the CA's admission index), never for the node its body names: a body that
names another node is refused ``unauthorized`` and logged as
``dispatcher.call.unauthorized`` (callers.py). A handler added for a later stream must go
through ``certified_speaker`` the same way (the log streams do: actors/logs/handlers.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import pykka

from actors.dispatcher.actor import Dispatcher
from actors.dispatcher.callers import UNAUTHORIZED, check_caller
from actors.dispatcher.sessions import SessionError
from actors.dispatcher.wire import (
    SESSION,
    SESSION_HEARTBEAT,
    SESSION_STATUS,
    parse_session_request,
    parse_status_updates,
)
from actors.log import get_logger
from api.codec_objects import ObjectDecodeError
from api.errors import ErrorCode
from api.validation import InvalidSpec, validate_node_description
from transport.endpoint import Handler, Request
from transport.keys import fingerprint

__all__ = ["UNAVAILABLE", "CertifiedNode", "certified_speaker", "dispatcher_handlers"]

UNAVAILABLE: Final = "unavailable"

_log = get_logger("dispatcher")

FindDispatcher = Callable[[], "pykka.ActorRef[Dispatcher] | None"]
# the node id the CA issued the certificate of a CURVE key to (None: no certificate)
CertifiedNode = Callable[[bytes | None], str | None]


def certified_speaker(
    request: Request, certified_node: CertifiedNode, event: str = "dispatcher.call.unauthorized"
) -> str | None:
    """The node a call whose body names ``node_id`` speaks for: its caller's certificate's
    node, or None when the two differ (refused, answered ``unauthorized`` and logged as
    ``event``)."""
    named = str(request.body["node_id"])
    certified = certified_node(request.peer_key)
    refusal = check_caller(named, certified)
    if refusal is None:
        return certified
    key = request.peer_key
    _log.warning(
        event,
        type=request.type,
        key_fingerprint=fingerprint(key) if key is not None else None,
        named_node=named[:64],
        certified_node=certified,
        reason=refusal,
    )
    request.error(UNAUTHORIZED, refusal)
    return None


def dispatcher_handlers(
    find: FindDispatcher, certified_node: CertifiedNode, *, timeout: float = 5.0
) -> dict[str, Handler]:
    """``{"dispatcher.session": ..., "dispatcher.heartbeat": ..., "dispatcher.status": ...}``
    for the remote endpoint's table. ``find`` returns the running dispatcher or None."""

    def speaker(request: Request) -> str | None:
        return certified_speaker(request, certified_node)

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
        node_id = speaker(request)
        if node_id is None:
            return None
        try:
            _named, description, addr = parse_session_request(request.body)
            validate_node_description(description)
        except (ObjectDecodeError, InvalidSpec) as exc:
            request.error(ErrorCode.INVALID, str(exc))
            return None
        ask(request, lambda d: d.open_session(request, node_id, description, addr))
        return None

    def heartbeat(request: Request) -> Mapping[str, Any] | None:
        node_id = speaker(request)
        if node_id is None:
            return None
        session_id = str(request.body["session_id"])
        ok, answer = ask(request, lambda d: d.heartbeat(node_id, session_id, request.peer_key))
        if not ok:
            return None
        period, frames, role = answer
        return {"period": period, "frames": frames, "role": role}

    def status(request: Request) -> Mapping[str, Any] | None:
        node_id = speaker(request)
        if node_id is None:
            return None
        body = request.body
        updates, undecodable = parse_status_updates(body["updates"])
        ok, result = ask(
            request,
            lambda d: d.report_status(node_id, str(body["session_id"]), request.peer_key, updates),
        )
        if not ok:
            return None
        refused = [{"task_id": t, "reason": r} for t, r in (*undecodable, *result.refused)]
        return {"accepted": result.accepted, "refused": refused}

    return {SESSION: session, SESSION_HEARTBEAT: heartbeat, SESSION_STATUS: status}
