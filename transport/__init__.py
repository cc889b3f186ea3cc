"""msgpack over ZeroMQ with CURVE: codec, endpoints (ROUTER), clients (DEALER), ZAP.

See `transport.endpoint` for the server side's structure, `transport.request` for the
handler contract, and `transport.client` for the client. Message types are declared in
`api.schema`.

The names below load on first use (PEP 562), so a client that imports `transport.client`
(swarmctl) does not load the server side (pykka, the ROUTER loop, ZAP).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.errors import (
        ClientClosed,
        CodecError,
        ErrorCode,
        RemoteError,
        RequestTimeout,
        TransportError,
    )
    from transport.auth import AdmissionPolicy, AdmitAll, AllowList, ZapAuthenticator
    from transport.client import Client
    from transport.codec import decode, encode, encode_error
    from transport.endpoint import Endpoint, EndpointActor
    from transport.keys import KeyPair, fingerprint, generate_keypair, read_keypair
    from transport.request import Handler, InlineHandler, Request, inline
    from transport.source import connect_endpoint, source_host

__all__ = [
    "AdmissionPolicy",
    "AdmitAll",
    "AllowList",
    "Client",
    "ClientClosed",
    "CodecError",
    "Endpoint",
    "EndpointActor",
    "ErrorCode",
    "Handler",
    "InlineHandler",
    "KeyPair",
    "RemoteError",
    "Request",
    "RequestTimeout",
    "TransportError",
    "ZapAuthenticator",
    "connect_endpoint",
    "decode",
    "encode",
    "encode_error",
    "fingerprint",
    "generate_keypair",
    "inline",
    "read_keypair",
    "source_host",
]

# the module that defines each public name (the imports above, for type checkers)
_HOMES: dict[str, tuple[str, ...]] = {
    "api.errors": (
        "ClientClosed",
        "CodecError",
        "ErrorCode",
        "RemoteError",
        "RequestTimeout",
        "TransportError",
    ),
    "transport.auth": ("AdmissionPolicy", "AdmitAll", "AllowList", "ZapAuthenticator"),
    "transport.client": ("Client",),
    "transport.codec": ("decode", "encode", "encode_error"),
    "transport.endpoint": ("Endpoint", "EndpointActor"),
    "transport.keys": (
        "KeyPair",
        "fingerprint",
        "generate_keypair",
        "read_keypair",
    ),
    "transport.request": ("Handler", "InlineHandler", "Request", "inline"),
    "transport.source": ("connect_endpoint", "source_host"),
}
_HOME_OF: dict[str, str] = {name: home for home, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module 'transport' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
