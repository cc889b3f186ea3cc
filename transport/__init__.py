"""msgpack over ZeroMQ with CURVE: codec, endpoints (ROUTER), clients (DEALER), ZAP.

See `transport.endpoint` for the server side's structure and handler contract, and
`transport.client` for the client. Message types are declared in `api.schema`.
"""

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
from transport.endpoint import Endpoint, EndpointActor, Handler, InlineHandler, Request, inline
from transport.keys import KeyPair, fingerprint, generate_keypair, read_keypair, write_keypair
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
    "write_keypair",
]
