"""The Engine API's errors: ``{"message": ...}`` with the status Docker gives (pure).

Control API refusals keep their message and get the status the docker CLI and SDK act on
(404 makes ``docker stack deploy`` create what is missing; 409 is a name in use; 503 a
manager that cannot serve now). A manager that knows no Raft leader refuses as dockerd does
(`NO_LEADER_PREFIX`: SwarmKit's error reaches dockerd over gRPC with code Unknown, which it
answers 500 with the gRPC error's text). Anything the endpoint does not serve answers 501
naming it, never a crash.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "NO_LEADER_PREFIX",
    "STATUS_OF_CODE",
    "EngineError",
    "bad_request",
    "not_found",
    "not_supported",
]

# control API codes (actors/control/errors.py ControlCode, plus the node-wide ones)
STATUS_OF_CODE: Final[dict[str, int]] = {
    "not_found": 404,
    "ambiguous": 400,
    "invalid_spec": 400,
    "invalid_argument": 400,
    "name_conflict": 409,
    "already_exists": 409,
    "conflict": 409,  # a stale version: "update out of sequence"
    "in_use": 400,
    "too_large": 400,
    "gone": 400,
    "not_leader": 503,
    "no_leader": 500,  # as dockerd: a gRPC code Unknown from SwarmKit
    "unavailable": 503,
    "timeout": 503,
    "busy": 503,
    "locked": 503,
    "not_manager": 503,
    "store_error": 500,
    "not_supported": 501,  # as dockerd's NotImplemented errors
}

# what dockerd puts before SwarmKit's "The swarm does not have a leader. ..."; scripts
# match the whole line, so it is kept
NO_LEADER_PREFIX: Final = "rpc error: code = Unknown desc = "


class EngineError(Exception):
    """An answer other than success: the status and the one line the client shows."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code  # the control API's code, when it refused

    def body(self) -> dict[str, str]:
        return {"message": self.message}

    @classmethod
    def of_control(cls, code: str, message: str) -> EngineError:
        if code == "no_leader":
            message = NO_LEADER_PREFIX + message
        return cls(STATUS_OF_CODE.get(code, 500), message, code)


def bad_request(message: str) -> EngineError:
    return EngineError(400, message)


def not_found(message: str) -> EngineError:
    return EngineError(404, message)


def not_supported(what: str) -> EngineError:
    return EngineError(501, f"{what} is not supported by swarmnode's Engine API")
