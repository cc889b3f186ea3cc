"""The log broker's entries in the endpoints' handler tables.

Remote endpoint (every manager; the broker runs on the leader only, found per request
through ``find``: ``unavailable`` elsewhere):

    logs.listen     any node: its stream of subscriptions, for the node of the caller's
                    certificate (``certified_speaker``: a body naming another node is
                    refused ``unauthorized`` and logged as ``logs.call.unauthorized``)
    logs.publish    any node: a batch of records, for that node and its own tasks only
    logs.subscribe  managers (actors/ca/authorization.py): a follower relaying a
    logs.read       subscriber; the subscription is the relaying manager's (its key)
    logs.close

Control endpoint: ``control.logs.subscribe``, ``.read`` and ``.close``, served by the
local broker on the leader and relayed to the leader's (``LeaderRelay``) elsewhere, the
reply passed back as it is. A waiting read holds no handler thread: the broker (or the
relay's future) answers it later.

Bodies are checked here (actors/logs/wire.py): a bad value is ``invalid_argument``, a
read waits at most ``MAX_READ_WAIT`` seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, Final

import pykka

from actors.control.errors import ControlCode
from actors.dispatcher.handlers import CertifiedNode, certified_speaker
from actors.logs.broker import LogBroker
from actors.logs.broker_core import BrokerError
from actors.logs.relay import LeaderRelay, RelayUnavailable
from actors.logs.wire import MAX_READ_WAIT, parse_options, parse_publish, parse_selector
from api.errors import ClientClosed, CodecError, RemoteError, RequestTimeout
from transport.endpoint import Handler, Request

__all__ = ["LOCAL_OWNER", "log_control_handlers", "log_remote_handlers"]

LOCAL_OWNER: Final = "control"  # subscriptions made on the leader's own control socket
UNAVAILABLE: Final = ControlCode.UNAVAILABLE
INVALID: Final = ControlCode.INVALID_ARGUMENT
RELAY_MARGIN: Final = 5.0  # seconds a relayed call may take beyond its own wait

FindBroker = Callable[[], "pykka.ActorRef[LogBroker] | None"]


class _Broker:
    """Asks the broker running here, answering the request itself when it cannot."""

    def __init__(self, find: FindBroker, timeout: float) -> None:
        self._find = find
        self._timeout = timeout

    def available(self) -> bool:
        ref = self._find()
        return ref is not None and ref.is_alive()

    def ask(self, request: Request, call: Callable[[Any], Any]) -> tuple[bool, Any]:
        ref = self._find()
        if ref is None or not ref.is_alive():
            request.error(UNAVAILABLE, "no log broker runs on this manager (not the leader)")
            return False, None
        try:
            return True, call(ref.proxy()).get(timeout=self._timeout)
        except BrokerError as exc:
            request.error(exc.code, exc.message)
        except (pykka.ActorDeadError, pykka.Timeout):
            request.error(UNAVAILABLE, "the log broker did not answer")
        return False, None

    def subscribe(self, request: Request, owner: str) -> Mapping[str, Any] | None:
        try:
            selector = parse_selector(request.body["selector"])
            options = parse_options(request.body["options"])
        except ValueError as exc:
            request.error(INVALID, str(exc))
            return None
        ok, sub_id = self.ask(request, lambda b: b.subscribe(owner, selector, options))
        return {"subscription_id": sub_id} if ok else None

    def read(self, request: Request, owner: str) -> None:
        body = request.body
        after = int(body["after"])
        wait = min(max(float(body["wait"]), 0.0), MAX_READ_WAIT)
        if after < 0:
            request.error(INVALID, "after: must be >= 0")
            return
        sub_id = str(body["subscription_id"])
        self.ask(request, lambda b: b.read(request, owner, sub_id, after, wait))

    def close(self, request: Request, owner: str) -> Mapping[str, Any] | None:
        sub_id = str(request.body["subscription_id"])
        ok, closed = self.ask(request, lambda b: b.close(owner, sub_id))
        return {"closed": bool(closed)} if ok else None


def _manager_owner(request: Request) -> str:
    key = request.peer_key
    return "manager:" + (key.decode("ascii") if key is not None else "-")


def log_remote_handlers(
    find: FindBroker, certified_node: CertifiedNode, *, timeout: float = 5.0
) -> dict[str, Handler]:
    broker = _Broker(find, timeout)

    def speaker(request: Request) -> str | None:
        return certified_speaker(request, certified_node, "logs.call.unauthorized")

    def listen(request: Request) -> Mapping[str, Any] | None:
        node_id = speaker(request)
        if node_id is not None:
            broker.ask(request, lambda b: b.listen(request, node_id))
        return None

    def publish(request: Request) -> Mapping[str, Any] | None:
        node_id = speaker(request)
        if node_id is None:
            return None
        try:
            batch = parse_publish(request.body)
        except ValueError as exc:
            request.error(INVALID, str(exc))
            return None
        ok, result = broker.ask(request, lambda b: b.publish(node_id, batch))
        if not ok:
            return None
        return {
            "accepted": result.accepted,
            "refused": result.refused,
            "stop": result.stop,
            "backlog": result.backlog,
        }

    def subscribe(request: Request) -> Mapping[str, Any] | None:
        return broker.subscribe(request, _manager_owner(request))

    def read(request: Request) -> Mapping[str, Any] | None:
        broker.read(request, _manager_owner(request))
        return None

    def close(request: Request) -> Mapping[str, Any] | None:
        return broker.close(request, _manager_owner(request))

    return {
        "logs.listen": listen,
        "logs.publish": publish,
        "logs.subscribe": subscribe,
        "logs.read": read,
        "logs.close": close,
    }


def _pass_back(request: Request, future: Future[dict[str, Any]]) -> None:
    """Answer ``request`` with the relayed call's reply or error, when it comes."""

    def done(f: Future[dict[str, Any]]) -> None:
        with contextlib.suppress(CodecError):
            try:
                reply = f.result()
            except RemoteError as exc:
                request.error(exc.code, exc.message)
            except (RequestTimeout, ClientClosed) as exc:
                request.error(UNAVAILABLE, f"the leader did not answer: {exc}")
            else:
                request.reply(reply)

    future.add_done_callback(done)


def log_control_handlers(
    find: FindBroker, relay: LeaderRelay, *, timeout: float = 5.0
) -> dict[str, Handler]:
    broker = _Broker(find, timeout)

    def relayed(request: Request, message_type: str, wait: float) -> None:
        try:
            future = relay.call(message_type, request.body, timeout=wait + RELAY_MARGIN)
        except RelayUnavailable as exc:
            request.error(UNAVAILABLE, str(exc))
            return
        _pass_back(request, future)

    def subscribe(request: Request) -> Mapping[str, Any] | None:
        if broker.available():
            return broker.subscribe(request, LOCAL_OWNER)
        try:  # refuse a bad body here rather than at the leader
            parse_selector(request.body["selector"])
            parse_options(request.body["options"])
        except ValueError as exc:
            request.error(INVALID, str(exc))
            return None
        relayed(request, "logs.subscribe", 0.0)
        return None

    def read(request: Request) -> Mapping[str, Any] | None:
        if broker.available():
            broker.read(request, LOCAL_OWNER)
        else:
            wait = min(max(float(request.body["wait"]), 0.0), MAX_READ_WAIT)
            relayed(request, "logs.read", wait)
        return None

    def close(request: Request) -> Mapping[str, Any] | None:
        if broker.available():
            return broker.close(request, LOCAL_OWNER)
        relayed(request, "logs.close", 0.0)
        return None

    return {
        "control.logs.subscribe": subscribe,
        "control.logs.read": read,
        "control.logs.close": close,
    }
