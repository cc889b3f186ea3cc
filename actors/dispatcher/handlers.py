"""The dispatcher's entries in the remote endpoint's handler table.

The endpoint is built once per node, before any dispatcher runs (the dispatcher is
leader-only), so the handlers look the running dispatcher's front up on every request
through the ``DispatcherLink`` and answer ``unavailable`` when none runs here (this manager
is not the leader). They decode object bodies on the endpoint's handler threads; a
heartbeat is then served right there through the front (front.py), a status report is
queued for the dispatcher's status intake and a session open for the dispatcher, each of
which answers it itself. No handler waits for the dispatcher actor or the store's lock,
so its threads are never held while they work.

Every call acts for the node of the caller's certificate (``certified_node``: CURVE key ->
node id, from the CA's admission index), never for the node its body names: a body that
names another node is refused ``unauthorized`` and logged as
``dispatcher.call.unauthorized`` (callers.py). A handler added for a later stream must go
through ``certified_speaker`` the same way (the log streams do: actors/logs/handlers.py).
A node's TLS report (tls_report.py), in its session request or a heartbeat, is so its
certificate's node's, checked against its bounds before the dispatcher takes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from actors.dispatcher.callers import UNAUTHORIZED, check_caller
from actors.dispatcher.front import (
    UNAVAILABLE,
    DispatcherFront,
    DispatcherLink,
    SessionOpen,
    StatusReport,
)
from actors.dispatcher.sessions import SessionError
from actors.dispatcher.tls_report import parse_tls_report
from actors.dispatcher.wire import (
    SESSION,
    SESSION_HEARTBEAT,
    SESSION_STATUS,
    parse_session_request,
    parse_status_updates,
    session_addr,
)
from actors.log import get_logger
from api.codec_objects import ObjectDecodeError
from api.errors import ErrorCode
from api.validation import InvalidSpec, validate_node_description
from transport.endpoint import Handler, Request
from transport.keys import fingerprint

__all__ = ["UNAVAILABLE", "CertifiedNode", "certified_speaker", "dispatcher_handlers"]

_log = get_logger("dispatcher")

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
    link: DispatcherLink,
    certified_node: CertifiedNode,
    ca_trust: Callable[[], Mapping[str, Any] | None] = lambda: None,
) -> dict[str, Handler]:
    """``{"dispatcher.session": ..., "dispatcher.heartbeat": ..., "dispatcher.status": ...}``
    for the remote endpoint's table; ``link`` leads to the running dispatcher, if any;
    ``ca_trust``: the cluster's roots as heartbeats carry them (no store lock: the CA
    service keeps them from its watch)."""

    def speaker(request: Request) -> str | None:
        return certified_speaker(request, certified_node)

    def front(request: Request) -> DispatcherFront | None:
        found = link.front()
        if found is None:
            request.error(UNAVAILABLE, "no dispatcher runs on this manager (not the leader)")
        return found

    def session(request: Request) -> Mapping[str, Any] | None:
        node_id = speaker(request)
        if node_id is None:
            return None
        try:
            _named, description = parse_session_request(request.body)
            validate_node_description(description)
        except (ObjectDecodeError, InvalidSpec) as exc:
            request.error(ErrorCode.INVALID, str(exc))
            return None
        found = front(request)
        if found is not None and not found.request_session(
            SessionOpen(request, node_id, description, session_addr(request.peer_address))
        ):
            request.error(UNAVAILABLE, "the dispatcher is stopping")
        return None

    def heartbeat(request: Request) -> Mapping[str, Any] | None:
        node_id = speaker(request)
        if node_id is None:
            return None
        try:
            tls = parse_tls_report(request.body)
        except (ObjectDecodeError, InvalidSpec) as exc:
            request.error(ErrorCode.INVALID, str(exc))
            return None
        found = front(request)
        if found is None:
            return None
        try:
            period, frames, role = found.heartbeat(
                node_id, str(request.body["session_id"]), request.peer_key, tls
            )
        except SessionError as exc:
            request.error(exc.code, exc.message)
            return None
        reply: dict[str, Any] = {"period": period, "frames": frames, "role": role}
        trust = ca_trust()
        if trust is not None:
            reply["ca"] = trust
        return reply

    def status(request: Request) -> Mapping[str, Any] | None:
        node_id = speaker(request)
        found = front(request) if node_id is not None else None
        if node_id is None or found is None:
            return None
        body = request.body
        updates, undecodable = parse_status_updates(body["updates"])
        report = StatusReport(request, node_id, str(body["session_id"]), updates, undecodable)
        refusal = found.request_report(report)
        if refusal is not None:
            request.error(refusal, f"the dispatcher cannot take status reports now ({refusal})")
        return None

    return {SESSION: session, SESSION_HEARTBEAT: heartbeat, SESSION_STATUS: status}
