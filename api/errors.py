"""Errors of the wire protocol, split into local and remote ones.

* `CodecError` and its subclasses are *local* protocol errors: this process was given bytes
  (or asked to encode a body) that do not form a valid message. Each carries the wire
  ``code`` the endpoint sends back when it can tell the peer, and, when the envelope was
  readable far enough, the ``request_id`` to answer.
* `RemoteError` is a *remote* protocol or application error: the peer answered a request
  with an ``error`` message. `RequestTimeout` means no final answer came in time.

The codes (`ErrorCode`) are part of the wire protocol; handlers may use their own codes
too (any short string), but these are the ones the transport itself produces.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BadEnvelope",
    "BadField",
    "ClientClosed",
    "CodecError",
    "ConnectionLost",
    "ErrorCode",
    "FrameTooLarge",
    "HandshakeRefused",
    "LimitExceeded",
    "RemoteError",
    "RequestTimeout",
    "TransportError",
    "UndecodableFrame",
    "UnknownMessageType",
]


class ErrorCode:
    """Error codes the transport puts in ``error`` replies."""

    MALFORMED: Final = "malformed"  # bytes are not msgpack, or the envelope is wrong
    TOO_LARGE: Final = "too_large"  # frame over the size limit
    OVER_LIMITS: Final = "over_limits"  # a length or element count over the decode limits
    UNKNOWN_TYPE: Final = "unknown_type"  # message type not declared in api.schema
    INVALID: Final = "invalid"  # body misses a field or a field has the wrong type
    UNSUPPORTED: Final = "unsupported"  # declared type, but this endpoint has no handler
    INTERNAL: Final = "internal"  # the handler raised or produced an invalid reply
    BUSY: Final = "busy"  # the endpoint's queue for this kind of peer is full; try later


class TransportError(Exception):
    """Base of every error raised by `transport`."""


class CodecError(TransportError):
    """A frame (or a body to encode) is not a valid message. Local protocol error."""

    code: str = ErrorCode.MALFORMED

    def __init__(self, message: str, *, request_id: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class FrameTooLarge(CodecError):
    code = ErrorCode.TOO_LARGE


class LimitExceeded(CodecError):
    """A string, bin, array or map is longer, or the frame holds more elements, than the
    decode limits of its sender allow (`api.schema.frame.DecodeLimits`)."""

    code = ErrorCode.OVER_LIMITS


class UndecodableFrame(CodecError):
    """The bytes are not one well-formed msgpack object within the limits."""

    code = ErrorCode.MALFORMED


class BadEnvelope(CodecError):
    """The msgpack object is not an envelope map with valid v, t, id, b and more."""

    code = ErrorCode.MALFORMED


class UnknownMessageType(CodecError):
    code = ErrorCode.UNKNOWN_TYPE


class BadField(CodecError):
    """The body misses a required field or a field has the wrong type."""

    code = ErrorCode.INVALID


class RemoteError(TransportError):
    """The peer answered with an ``error`` message. Remote error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RequestTimeout(TransportError, TimeoutError):
    """No (further) reply arrived before the deadline; the request is forgotten."""


class ClientClosed(TransportError):
    """The client was closed before the reply arrived."""


class ConnectionLost(TransportError):
    """The connection carrying the request closed before its reply came (the peer's
    process died or dropped us): the reply cannot come any more."""


class HandshakeRefused(TransportError):
    """The server refused this client's CURVE key at the handshake (its ZAP handler said
    no): a retry with the same key is refused again."""
