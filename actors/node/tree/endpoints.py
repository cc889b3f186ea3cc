"""The node's endpoints as children of its tree, and the tables they serve.

- `endpoint_child`: a child running transport's ``EndpointActor`` (a plain pykka actor:
  the supervisor's watch notices it dying). Starting returns once the socket is bound,
  or raises the bind error itself (port taken, bad address), so the failure says why.
- Tables are built once per endpoint start (``HandlerFactory``), from the peers
  directory; the handlers look their subsystems up per request.
- Every control endpoint answers ``version`` (node id, role, software version); a
  worker's refuses every other control request in one line (`NOT_MANAGER_MESSAGE`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from importlib import metadata
from typing import Any, Final

import pykka

from actors.ca.node_identity import NodeIdentity
from actors.control.errors import ControlError, guarded
from actors.log import get_logger
from actors.supervisor import ChildContext, ChildSpec, Directory, Restart
from api.enums import NodeRole
from api.schema.frame import DEFAULT_MAX_MESSAGE_SIZE
from api.schema.registry import registered
from transport.auth import AdmissionPolicy
from transport.endpoint import EndpointActor, Handler, Request
from transport.keys import KeyPair

__all__ = [
    "NOT_MANAGER_CODE",
    "NOT_MANAGER_MESSAGE",
    "HandlerFactory",
    "HandlerTable",
    "endpoint_child",
    "software_version",
    "version_handlers",
    "with_handlers",
    "worker_control_handlers",
]

NOT_MANAGER_CODE: Final = "not_manager"
NOT_MANAGER_MESSAGE: Final = (
    "this node is not a manager: worker nodes can't be used to view or modify cluster "
    "state; run this on a manager, or promote this node (swarmctl node promote)"
)

HandlerTable = Mapping[str, Handler]
HandlerFactory = Callable[[Directory], HandlerTable]

_log = get_logger("node")


def software_version() -> str:
    try:
        return metadata.version("swarmnode")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def endpoint_child(
    name: str,
    bind: str,
    handlers: HandlerFactory,
    *,
    keypair: KeyPair | None = None,
    admission: AdmissionPolicy | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    max_request_size: int | None = None,
    stop_timeout: float = 5.0,
    start_timeout: float = 10.0,
    on_listening: Callable[[str], None] | None = None,
) -> ChildSpec:
    def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
        started: Future[str] = Future()
        ref = EndpointActor.start(
            bind,
            handlers(ctx.peers),
            keypair=keypair,
            admission=admission,
            max_message_size=max_message_size,
            max_request_size=max_request_size,
            name=name,
            started=started,
        )
        try:
            address = started.result(timeout=start_timeout)
        except BaseException:
            ref.stop(block=False)
            raise
        _log.info("node.endpoint.listening", endpoint=name, address=address)
        if on_listening is not None:
            on_listening(address)
        return ref

    return ChildSpec(
        name=name,
        start=start,
        restart=Restart.PERMANENT,
        start_timeout=start_timeout,
        stop_timeout=stop_timeout,
    )


def version_handlers(identity: NodeIdentity, role: NodeRole) -> HandlerFactory:
    def build(_peers: Directory) -> HandlerTable:
        reply = {"node_id": identity.node_id, "role": role.value, "version": software_version()}

        def version(_request: Request) -> Mapping[str, Any]:
            return reply

        return {"version": version}

    return build


def worker_control_handlers(_peers: Directory) -> HandlerTable:
    """A worker's control table: every control request refused in one line."""

    def refuse(_body: Mapping[str, Any]) -> Mapping[str, Any]:
        raise ControlError(NOT_MANAGER_CODE, NOT_MANAGER_MESSAGE)

    return {
        name: guarded(refuse)
        for name, kind in registered().items()
        if name.startswith("control.") and getattr(kind, "reply", None)
    }


def with_handlers(base: HandlerFactory, extra: HandlerFactory) -> HandlerFactory:
    """``base``'s table plus ``extra``'s."""
    return lambda peers: {**base(peers), **extra(peers)}
