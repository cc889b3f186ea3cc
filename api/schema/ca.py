"""Message types of the certificate authority and the join protocol, owned by the CA
service (actors/ca/service.py, actors/ca/join.py).

``ca.hello`` is served only on a manager's join-hello endpoint, whose CURVE server key is
published (actors/ca/join.py explains why that is sound): it hands out public material
only. ``ca.root`` and ``ca.join`` are open to any CURVE key on the remote endpoint;
``ca.renew`` needs a live node certificate and its CSR must carry the caller's own CURVE
key. Certificates and CSRs are PEM bytes. Failures are ``error`` replies: invalid_token,
wrong_cluster, invalid_csr, invalid_argument, unauthorized, not_leader, unavailable.
"""

from __future__ import annotations

from typing import Final

from api.schema.declare import BYTES, STR, Field, ListOf, MessageType, OwnerSchema, Struct
from api.schema.dispatcher import MANAGER_ADDRESS

__all__ = [
    "CA_HELLO",
    "CA_HELLO_REPLY",
    "CA_JOIN",
    "CA_JOIN_REPLY",
    "CA_RENEW",
    "CA_RENEW_REPLY",
    "CA_ROOT",
    "CA_ROOT_REPLY",
    "ROTATION",
    "SCHEMA",
]

SCHEMA: Final = OwnerSchema("ca")

# during a root CA rotation: the new root and its name and key certified by the current
# root (actors/ca/rotation.py); a node that trusts the current root checks the new one by it
ROTATION: Final = Struct((Field("ca_cert", BYTES), Field("cross_signed", BYTES)))
_ROTATION_FIELD: Final = Field("rotation", ROTATION, required=False)

CA_HELLO_REPLY: Final = SCHEMA.declare(
    MessageType(
        "ca.hello.reply",
        (
            Field("ca_cert", BYTES),
            Field("manager_cert", BYTES),
            Field("addr", STR),
            _ROTATION_FIELD,
        ),
        doc="The root CA certificate and this manager's certificate (which binds its CURVE "
        "server key); addr: its remote endpoint as advertised ('' if unknown).",
    )
)
CA_HELLO: Final = SCHEMA.declare(
    MessageType(
        "ca.hello",
        reply="ca.hello.reply",
        doc="Bootstrap of a join: learn the manager's certified CURVE server key.",
    )
)
CA_ROOT_REPLY: Final = SCHEMA.declare(
    MessageType(
        "ca.root.reply",
        (Field("ca_cert", BYTES), Field("manager_cert", BYTES), _ROTATION_FIELD),
        doc="The root CA certificate and the answering manager's own certificate; "
        "rotation: the new root during a root CA rotation.",
    )
)
CA_ROOT: Final = SCHEMA.declare(
    MessageType("ca.root", reply="ca.root.reply", doc="Ask for the root CA certificate.")
)
CA_JOIN_REPLY: Final = SCHEMA.declare(
    MessageType(
        "ca.join.reply",
        (
            Field("node_id", STR),
            Field("role", STR),
            Field("cluster_id", STR),
            Field("certificate", BYTES),
            Field("ca_cert", BYTES),
            Field("managers", ListOf(MANAGER_ADDRESS)),
            _ROTATION_FIELD,
        ),
        doc="The new node's id, role (manager|worker), certificate and the manager list.",
    )
)
CA_JOIN: Final = SCHEMA.declare(
    MessageType(
        "ca.join",
        (
            Field("token", STR),
            Field("csr", BYTES),
            Field("hostname", STR),
            Field("node_id", STR, required=False),
            Field("addr", STR, required=False),
        ),
        reply="ca.join.reply",
        doc="Join with a token; the CSR must carry the CURVE key the request comes from. "
        "node_id: the id wanted (refused if taken); addr: the node's advertised address.",
    )
)
CA_RENEW_REPLY: Final = SCHEMA.declare(
    MessageType(
        "ca.renew.reply",
        (
            Field("node_id", STR),
            Field("role", STR),
            Field("certificate", BYTES),
            Field("ca_cert", BYTES),
            _ROTATION_FIELD,
        ),
        doc="The re-issued certificate (role: the node's current role in the store); "
        "during a root CA rotation it is issued by the new root (rotation).",
    )
)
CA_RENEW: Final = SCHEMA.declare(
    MessageType(
        "ca.renew",
        (Field("csr", BYTES),),
        reply="ca.renew.reply",
        doc="Re-issue the caller's certificate for the same node id and CURVE key.",
    )
)
