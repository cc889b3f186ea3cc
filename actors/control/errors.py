"""Control API errors: every failure becomes one ``error`` reply with a code and one line.

Codes (``ControlCode``) are part of the control API; swarmctl shows the message and exits
non-zero. Store and validation errors are mapped here, in one place (``error_of``), and
``guarded`` wraps a handler so any of them (or a ``ControlError`` raised by the handler
itself) is answered as such; anything else is left to the endpoint (``internal``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from actors.store.errors import (
    AlreadyExists,
    AmbiguousReference,
    ConflictError,
    NameConflict,
    NoProposer,
    NotFound,
    NotLeader,
    ProposalDropped,
    ProposalTimeout,
    StorageFull,
    StoreError,
    TooLarge,
)
from api.codec_objects import ObjectDecodeError
from api.validation import InvalidSpec
from transport.endpoint import Handler, Request

__all__ = ["Body", "BodyFunction", "ControlCode", "ControlError", "call", "error_of", "guarded"]


class ControlCode:
    NOT_FOUND: Final = "not_found"
    AMBIGUOUS: Final = "ambiguous"
    INVALID_SPEC: Final = "invalid_spec"
    INVALID_ARGUMENT: Final = "invalid_argument"
    NAME_CONFLICT: Final = "name_conflict"
    ALREADY_EXISTS: Final = "already_exists"
    CONFLICT: Final = "conflict"
    IN_USE: Final = "in_use"  # a network, secret or config a service uses: not removed
    NOT_LEADER: Final = "not_leader"
    NO_LEADER: Final = "no_leader"  # no leader is known: cluster state is not served
    UNAVAILABLE: Final = "unavailable"
    TIMEOUT: Final = "timeout"
    TOO_LARGE: Final = "too_large"  # over a byte budget of api.limits
    STORE: Final = "store_error"
    GONE: Final = "gone"  # events asked for are no longer held (actors/events/)
    BUSY: Final = "busy"  # a per-manager bound is reached (event watches)
    # what the nodes cannot do (read the output of a logging driver that keeps none)
    NOT_SUPPORTED: Final = "not_supported"


class ControlError(Exception):
    """A refusal with its code; ``message`` is the one line the user sees."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def error_of(exc: BaseException) -> ControlError | None:
    """The control error for a store, codec or validation error; None for anything else."""
    if isinstance(exc, ControlError):
        return exc
    if isinstance(exc, InvalidSpec):
        return ControlError(ControlCode.INVALID_SPEC, str(exc))
    if isinstance(exc, ObjectDecodeError):
        return ControlError(ControlCode.INVALID_SPEC, f"invalid spec: {exc}")
    if isinstance(exc, AmbiguousReference):
        return ControlError(ControlCode.AMBIGUOUS, str(exc))
    if isinstance(exc, NotFound):
        return ControlError(ControlCode.NOT_FOUND, f"no such {exc.kind}: {exc.ref}")
    if isinstance(exc, NameConflict):
        return ControlError(ControlCode.NAME_CONFLICT, str(exc))
    if isinstance(exc, AlreadyExists):
        return ControlError(ControlCode.ALREADY_EXISTS, str(exc))
    if isinstance(exc, ConflictError):
        return ControlError(ControlCode.CONFLICT, str(exc))
    if isinstance(exc, NotLeader):
        return ControlError(ControlCode.NOT_LEADER, str(exc))
    if isinstance(exc, NoProposer | ProposalDropped | StorageFull):
        return ControlError(ControlCode.UNAVAILABLE, str(exc))
    if isinstance(exc, ProposalTimeout):
        return ControlError(ControlCode.TIMEOUT, str(exc))
    if isinstance(exc, TooLarge):
        return ControlError(ControlCode.TOO_LARGE, str(exc))
    if isinstance(exc, StoreError):
        return ControlError(ControlCode.STORE, str(exc))
    return None


Body = Mapping[str, Any]
BodyFunction = Callable[[Body], Body]


def call(fn: BodyFunction, body: Body) -> Body:
    """Run ``fn`` on a request body; a known error is raised as its ``ControlError``."""
    try:
        return fn(body)
    except Exception as exc:
        err = error_of(exc)
        if err is None or err is exc:
            raise
        raise err from exc


def guarded(fn: BodyFunction, send: Callable[[Request, Body], None] | None = None) -> Handler:
    """A transport handler running ``fn`` on the request's body; known errors are
    answered as ``error`` replies, anything else is left to the endpoint (``internal``).
    ``send``: the reply is sent by it (a listing in frames), and its ControlError answered
    as the handler's."""

    def handler(request: Request) -> Mapping[str, Any] | None:
        try:
            body = call(fn, request.body)
            if send is None:
                return body
            send(request, body)
        except ControlError as err:
            request.error(err.code, err.message)
        return None

    handler.__name__ = getattr(fn, "__name__", "handler")
    handler.__doc__ = fn.__doc__
    return handler
