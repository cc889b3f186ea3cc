"""The wire schema: the envelope and every message type, declared once.

Every message on the wire is one msgpack map in one ZeroMQ frame (DESIGN.md §6)::

    {"v": 1, "t": type, "id": request id, "b": body}            # plus "more": true

``id`` 0 marks a one-way message (no reply). A reply carries the id of its request; a
streamed reply carries ``"more": true`` on every frame but the last. A failed request is
answered with an ``error`` message (body ``code``, ``message``) carrying the request's id.

A message type is a name and the fields of its body, each with a type and whether it is
required; a request type names the type of its reply. Adding a type is one declaration::

    APPEND = register(MessageType(
        "raft.append",
        (Field("term", INT), Field("entries", ListOf(BYTES)), Field("hint", STR, required=False)),
        reply="raft.append.reply",
    ))

This module only declares; `transport.codec` is the one place that decodes and validates
against these declarations. Fields not declared are kept (newer peers may send more);
optional fields may be absent but, when present, must have the declared type (or be nil
for a `Nullable` type).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "ANY",
    "BOOL",
    "BYTES",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ERROR",
    "FLOAT",
    "INT",
    "MEMBER_LIMITS",
    "PING",
    "PONG",
    "PROTOCOL_VERSION",
    "REPLY_LIMITS",
    "STR",
    "STRANGER_LIMITS",
    "VERSION",
    "VERSION_REPLY",
    "DecodeLimits",
    "Envelope",
    "Field",
    "FieldType",
    "ListOf",
    "MapOf",
    "MessageType",
    "Nullable",
    "Scalar",
    "Struct",
    "lookup",
    "register",
    "registered",
]

PROTOCOL_VERSION: Final = 1
DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024


# -- how much a frame may make the decoder build, by who sent it ---------------------------


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds on one frame and on what decoding it may build (DESIGN.md §7: peers without
    a certificate reach only the join and CA calls, with small frames).

    ``max_size`` (bytes) is checked before msgpack sees the frame; the next four are
    msgpack's own limits on any one string, bin, array and map, refused from the length in
    their header before anything is built; ``max_items`` bounds the elements of all arrays
    and the entries of all maps together, so nesting cannot multiply the lengths (15 MiB of
    empty maps is 15 million objects however they are nested).
    """

    max_size: int
    max_str_len: int
    max_bin_len: int
    max_array_len: int
    max_map_len: int
    max_items: int

    def capped(self, max_size: int) -> DecodeLimits:
        """These limits within frames of at most ``max_size`` bytes."""
        return DecodeLimits(
            min(self.max_size, max_size),
            min(self.max_str_len, max_size),
            min(self.max_bin_len, max_size),
            self.max_array_len,
            self.max_map_len,
            self.max_items,
        )


# A stranger (the join-hello port; a key with no live certificate on the remote API) can
# send only ca.hello, ca.root and ca.join: no list or map in their bodies, a token and a
# hostname (strings of at most a few hundred characters) and a PEM CSR (about 1 KiB).
# The envelope is a map of 5 entries, and undeclared body fields are kept (newer peers),
# so a little room is left above those needs.
STRANGER_LIMITS: Final = DecodeLimits(
    max_size=64 * 1024,
    max_str_len=4 * 1024,
    max_bin_len=16 * 1024,
    max_array_len=32,
    max_map_len=32,
    max_items=256,
)
# A member (a key with a live node certificate; the local control socket, mode 0600):
# Raft batches are one bin up to the frame size; no string can be longer than a whole
# store write (1 MiB, api/limits.py MAX_WRITE_BYTES); the largest structured requests are
# a worker's status batch (up to 1000 updates of about 15 entries each), a node
# description and a service spec from the control socket.
MEMBER_LIMITS: Final = DecodeLimits(
    max_size=DEFAULT_MAX_MESSAGE_SIZE,
    max_str_len=1024 * 1024,
    max_bin_len=DEFAULT_MAX_MESSAGE_SIZE,
    max_array_len=65_536,
    max_map_len=16_384,
    max_items=262_144,
)
# A reply a client decodes comes from the server it chose (a pinned CURVE key, or its own
# node's control socket): listings of every task of a cluster and a worker's full set of
# assignments are the largest. These limits only keep a broken server from exhausting it.
REPLY_LIMITS: Final = DecodeLimits(
    max_size=DEFAULT_MAX_MESSAGE_SIZE,
    max_str_len=DEFAULT_MAX_MESSAGE_SIZE,
    max_bin_len=DEFAULT_MAX_MESSAGE_SIZE,
    max_array_len=1_048_576,
    max_map_len=1_048_576,
    max_items=4_194_304,
)


# -- field types ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scalar:
    """A msgpack scalar: ``str``, ``int`` (not bool), ``float`` (int accepted), ``bool``,
    ``bytes`` (msgpack bin), or ``any`` (any plain msgpack value, checked recursively)."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ListOf:
    item: FieldType

    def __str__(self) -> str:
        return f"list[{self.item}]"


@dataclass(frozen=True, slots=True)
class MapOf:
    """A map with string keys and values of one type."""

    value: FieldType

    def __str__(self) -> str:
        return f"map[str, {self.value}]"


@dataclass(frozen=True, slots=True)
class Struct:
    """A nested map with declared fields, validated like a body."""

    fields: tuple[Field, ...]

    def __str__(self) -> str:
        return "map"


@dataclass(frozen=True, slots=True)
class Nullable:
    """The inner type, or nil."""

    inner: FieldType

    def __str__(self) -> str:
        return f"{self.inner} or nil"


FieldType = Scalar | ListOf | MapOf | Struct | Nullable

STR: Final = Scalar("str")
INT: Final = Scalar("int")
FLOAT: Final = Scalar("float")
BOOL: Final = Scalar("bool")
BYTES: Final = Scalar("bytes")
ANY: Final = Scalar("any")

SCALAR_NAMES: Final = frozenset({"str", "int", "float", "bool", "bytes", "any"})


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    required: bool = True


# -- message types -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageType:
    """A message type: its name, its body's fields and, for a request, its reply's type."""

    name: str
    fields: tuple[Field, ...] = ()
    reply: str | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("a message type needs a non-empty name")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"message type {self.name!r} declares a field twice")
        _check_types(self.name, self.fields)


def _check_types(where: str, fields: tuple[Field, ...]) -> None:
    for f in fields:
        stack: list[FieldType] = [f.type]
        while stack:
            t = stack.pop()
            if isinstance(t, Scalar):
                if t.name not in SCALAR_NAMES:
                    raise ValueError(f"{where}.{f.name}: unknown scalar type {t.name!r}")
            elif isinstance(t, ListOf):
                stack.append(t.item)
            elif isinstance(t, MapOf):
                stack.append(t.value)
            elif isinstance(t, Nullable):
                stack.append(t.inner)
            elif isinstance(t, Struct):
                _check_types(f"{where}.{f.name}", t.fields)
            else:
                raise TypeError(f"{where}.{f.name}: not a field type: {t!r}")


_REGISTRY: dict[str, MessageType] = {}


def register(message_type: MessageType) -> MessageType:
    """Declare a message type; returns it. Declaring the same name twice is an error unless
    both declarations are equal (so a module may be imported twice)."""
    existing = _REGISTRY.get(message_type.name)
    if existing is not None and existing != message_type:
        raise ValueError(f"message type {message_type.name!r} is already declared differently")
    _REGISTRY[message_type.name] = message_type
    return message_type


def lookup(name: str) -> MessageType | None:
    return _REGISTRY.get(name)


def registered() -> Mapping[str, MessageType]:
    """A read-only view of every declared type, by name."""
    return MappingProxyType(_REGISTRY)


# -- the envelope --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Envelope:
    """One decoded, validated message. ``body`` is the validated body map."""

    type: str
    id: int
    body: Mapping[str, Any] = field(default_factory=dict)
    more: bool = False
    version: int = PROTOCOL_VERSION


# -- the transport's own types -------------------------------------------------------------

ERROR: Final = register(
    MessageType(
        "error",
        (Field("code", STR), Field("message", STR)),
        doc="The answer to a request that failed; carries the request's id.",
    )
)
PONG: Final = register(MessageType("pong", doc="Reply to ping."))
PING: Final = register(MessageType("ping", reply="pong", doc="Liveness check."))
VERSION_REPLY: Final = register(
    MessageType(
        "version.reply",
        (Field("node_id", STR), Field("role", STR), Field("version", STR)),
        doc="Who answered: node id, role (manager|worker) and software version.",
    )
)
VERSION: Final = register(
    MessageType("version", reply="version.reply", doc="Ask a node who it is.")
)


# -- dispatcher: worker sessions (actors/dispatcher, actors/worker/agent) -------------------
# Owned by the dispatcher. A worker's agent opens one streamed ``dispatcher.session``
# request; the manager answers with ``dispatcher.session.message`` frames (``more``) for as
# long as the session lives: the first carries ``full=True`` and every task assigned to the
# node, the next ones added or changed tasks and removed ids. A final frame (no ``more``)
# carries ``closed``: why the manager ended the session. Tasks and statuses travel as the
# object codec's dicts (api/codec_objects.py). Heartbeats and status batches name the
# session; a session stays with the CURVE key that opened it.

MANAGER_ADDRESS: Final = Struct((Field("addr", STR), Field("server_key", STR)))

DISPATCHER_SESSION_MESSAGE: Final = register(
    MessageType(
        "dispatcher.session.message",
        (
            Field("session_id", STR),
            Field("heartbeat_period", FLOAT),
            Field("managers", ListOf(MANAGER_ADDRESS)),
            Field("full", BOOL),
            Field("tasks", ListOf(ANY)),
            Field("removed", ListOf(STR)),
            Field("closed", STR, required=False),
        ),
        doc="One frame of a session: assignments (full set or changes) and session metadata.",
    )
)
DISPATCHER_SESSION: Final = register(
    MessageType(
        "dispatcher.session",
        (
            Field("node_id", STR),
            Field("description", ANY),
            Field("addr", STR, required=False),
        ),
        reply="dispatcher.session.message",
        doc="Open a worker session (streamed reply); description is a NodeDescription dict.",
    )
)
DISPATCHER_HEARTBEAT_REPLY: Final = register(
    MessageType(
        "dispatcher.heartbeat.reply",
        (
            Field("period", FLOAT),
            Field("frames", INT, required=False),
            Field("role", STR, required=False),
        ),
        doc="When to send the next heartbeat, in seconds; frames: how many session frames "
        "the manager has sent so far (a worker that got fewer lost its stream); role: the "
        "node's role in the store (manager|worker; the agent renews its certificate when "
        "it differs from the certificate's).",
    )
)
DISPATCHER_HEARTBEAT: Final = register(
    MessageType(
        "dispatcher.heartbeat",
        (Field("node_id", STR), Field("session_id", STR)),
        reply="dispatcher.heartbeat.reply",
        doc="A session's heartbeat.",
    )
)
TASK_STATUS_UPDATE: Final = Struct((Field("task_id", STR), Field("status", ANY)))
REFUSED_ITEM: Final = Struct((Field("task_id", STR), Field("reason", STR)))
DISPATCHER_STATUS_REPLY: Final = register(
    MessageType(
        "dispatcher.status.reply",
        (Field("accepted", INT), Field("refused", ListOf(REFUSED_ITEM))),
        doc="How many updates were accepted; the refused ones, each with its reason.",
    )
)
DISPATCHER_STATUS: Final = register(
    MessageType(
        "dispatcher.status",
        (
            Field("node_id", STR),
            Field("session_id", STR),
            Field("updates", ListOf(TASK_STATUS_UPDATE)),
        ),
        reply="dispatcher.status.reply",
        doc="A batch of task status updates (status: a TaskStatus dict).",
    )
)
# -- end of dispatcher block ---------------------------------------------------------------


# -- raft: consensus between managers (actors/raft_node) -----------------------------------
# Owned by the RaftNode. Peers exchange ``raft.messages`` one way: each frame carries many
# Raft messages packed by actors/raft_node/wire.py into ``batch`` (opaque here, like etcd's
# raftpb payload), ``seq`` counts the sender's frames to this peer (the receiver processes
# the frames it has in that order). ``raft.propose`` hands entries to a node (a follower
# forwards them to the leader, ``forwarded`` set); the reply's ``index`` is the last
# entry's, sent once it is committed and applied on the answering node; ``error`` is
# ``not_leader`` (with ``leader_id``, 0 when unknown), ``too_large`` (with ``size`` and
# ``limit``) or ``dropped`` (outcome unknown). A batch larger than a frame should carry (a
# snapshot) travels as ``raft.chunk`` frames, numbered by ``seq`` like the others, that the
# receiver puts back together (actors/raft_node/frames.py).

RAFT_MESSAGES: Final = register(
    MessageType(
        "raft.messages",
        (Field("from", INT), Field("seq", INT), Field("batch", BYTES)),
        doc="One-way: a batch of Raft messages from member `from` (wire.py encoding).",
    )
)
RAFT_CHUNK: Final = register(
    MessageType(
        "raft.chunk",
        (
            Field("from", INT),
            Field("seq", INT),
            Field("stream", INT),
            Field("total", INT),
            Field("offset", INT),
            Field("data", BYTES),
        ),
        doc="One-way: bytes [offset, offset + len(data)) of a batch of `total` bytes.",
    )
)
RAFT_PROPOSE_REPLY: Final = register(
    MessageType(
        "raft.propose.reply",
        (
            Field("index", INT),
            Field("error", STR, required=False),
            Field("leader_id", INT, required=False),
            Field("message", STR, required=False),
        ),
        doc="Index of the batch's last entry (0 on error); error not_leader|dropped.",
    )
)
RAFT_PROPOSE: Final = register(
    MessageType(
        "raft.propose",
        (Field("data", ListOf(BYTES)), Field("forwarded", BOOL, required=False)),
        reply="raft.propose.reply",
        doc="Propose entries; answered once committed and applied on the answering node.",
    )
)
RAFT_STATUS_REPLY: Final = register(
    MessageType(
        "raft.status.reply",
        (
            Field("node_id", INT),
            Field("state", STR),
            Field("term", INT),
            Field("leader_id", INT),
            Field("commit", INT),
            Field("applied", INT),
            Field("last_index", INT),
        ),
        doc="A member's Raft state.",
    )
)
RAFT_STATUS: Final = register(
    MessageType("raft.status", reply="raft.status.reply", doc="Ask a member for its Raft state.")
)
# -- end of raft block ---------------------------------------------------------------------


# -- control API (actors/control, swarmctl) ------------------------------------------------
# Owned by the control API. Requests on a manager's control socket (ipc://). Objects in
# replies are the object codec's dicts (api/codec_objects.py); list rows and summaries are
# the plain dicts of actors/control/views.py (``--format json`` of swarmctl). A reference
# (``service``, ``node``, ``task``) is an id, a name or a unique id prefix. Failures are
# ``error`` replies whose code says why: not_found, ambiguous, invalid_spec,
# invalid_argument, name_conflict, conflict, not_leader, unavailable, timeout.

CONTROL_SERVICE_REPLY: Final = register(
    MessageType(
        "control.service.reply",
        (Field("id", STR), Field("changed", BOOL), Field("service", ANY)),
        doc="The service written (summary) and whether its spec changed.",
    )
)
CONTROL_SERVICE_CREATE: Final = register(
    MessageType(
        "control.service.create",
        (Field("spec", ANY),),
        reply="control.service.reply",
        doc="Create a service from a ServiceSpec dict; validated before anything is written.",
    )
)
CONTROL_SERVICE_UPDATE: Final = register(
    MessageType(
        "control.service.update",
        (
            Field("service", STR),
            Field("changes", MapOf(ANY)),
            Field("version", INT, required=False),
        ),
        reply="control.service.reply",
        doc="Apply flag options (actors/control/service_options.py) to a service's spec; "
        "with version, refused if the service changed since.",
    )
)
CONTROL_SERVICE_SCALE: Final = register(
    MessageType(
        "control.service.scale",
        (Field("service", STR), Field("replicas", INT)),
        reply="control.service.reply",
        doc="Set a replicated service's replica count.",
    )
)
CONTROL_SERVICE_LS_REPLY: Final = register(
    MessageType("control.service.ls.reply", (Field("services", ListOf(ANY)),))
)
CONTROL_SERVICE_LS: Final = register(
    MessageType(
        "control.service.ls",
        (Field("all", BOOL, required=False),),
        reply="control.service.ls.reply",
        doc="Service summaries; all: include services being removed.",
    )
)
CONTROL_SERVICE_INSPECT_REPLY: Final = register(
    MessageType("control.service.inspect.reply", (Field("service", ANY), Field("summary", ANY)))
)
CONTROL_SERVICE_INSPECT: Final = register(
    MessageType(
        "control.service.inspect",
        (Field("service", STR),),
        reply="control.service.inspect.reply",
        doc="One service: the object and its summary.",
    )
)
CONTROL_SERVICE_PS_REPLY: Final = register(
    MessageType("control.service.ps.reply", (Field("service", ANY), Field("tasks", ListOf(ANY))))
)
CONTROL_SERVICE_PS: Final = register(
    MessageType(
        "control.service.ps",
        (Field("service", STR), Field("desired_state", STR, required=False)),
        reply="control.service.ps.reply",
        doc="A service's summary and its tasks (current and kept history), as rows.",
    )
)
CONTROL_SERVICE_RM_REPLY: Final = register(
    MessageType("control.service.rm.reply", (Field("removed", ListOf(STR)),))
)
CONTROL_SERVICE_RM: Final = register(
    MessageType(
        "control.service.rm",
        (Field("services", ListOf(STR)),),
        reply="control.service.rm.reply",
        doc="Mark services for removal (all resolved first, else nothing is written).",
    )
)
CONTROL_NODE_LS_REPLY: Final = register(
    MessageType("control.node.ls.reply", (Field("nodes", ListOf(ANY)),))
)
CONTROL_NODE_LS: Final = register(
    MessageType("control.node.ls", reply="control.node.ls.reply", doc="Node rows.")
)
CONTROL_NODE_INSPECT_REPLY: Final = register(
    MessageType("control.node.inspect.reply", (Field("node", ANY), Field("summary", ANY)))
)
CONTROL_NODE_INSPECT: Final = register(
    MessageType(
        "control.node.inspect",
        (Field("node", STR),),
        reply="control.node.inspect.reply",
        doc="One node: the object and its row.",
    )
)
CONTROL_NODE_UPDATE_REPLY: Final = register(
    MessageType(
        "control.node.update.reply", (Field("id", STR), Field("changed", BOOL), Field("node", ANY))
    )
)
CONTROL_NODE_UPDATE: Final = register(
    MessageType(
        "control.node.update",
        (
            Field("node", STR),
            Field("availability", STR, required=False),
            Field("label_add", MapOf(STR), required=False),
            Field("label_rm", ListOf(STR), required=False),
            Field("role", STR, required=False),
            Field("version", INT, required=False),
        ),
        reply="control.node.update.reply",
        doc="Change a node's availability (active|pause|drain), labels and desired role.",
    )
)
CONTROL_NODE_RM_REPLY: Final = register(MessageType("control.node.rm.reply", (Field("id", STR),)))
CONTROL_NODE_RM: Final = register(
    MessageType(
        "control.node.rm",
        (Field("node", STR), Field("force", BOOL, required=False)),
        reply="control.node.rm.reply",
        doc="Remove a node (DOWN, or force) and revoke its certificate.",
    )
)
CONTROL_TASK_LS_REPLY: Final = register(
    MessageType("control.task.ls.reply", (Field("tasks", ListOf(ANY)),))
)
CONTROL_TASK_LS: Final = register(
    MessageType(
        "control.task.ls",
        (
            Field("service", STR, required=False),
            Field("node", STR, required=False),
            Field("desired_state", STR, required=False),
        ),
        reply="control.task.ls.reply",
        doc="Task rows, filtered by service, node and desired state.",
    )
)
CONTROL_TASK_INSPECT_REPLY: Final = register(
    MessageType("control.task.inspect.reply", (Field("task", ANY), Field("summary", ANY)))
)
CONTROL_TASK_INSPECT: Final = register(
    MessageType(
        "control.task.inspect",
        (Field("task", STR),),
        reply="control.task.inspect.reply",
        doc="One task: the object and its row.",
    )
)
CONTROL_CLUSTER_INSPECT_REPLY: Final = register(
    MessageType("control.cluster.inspect.reply", (Field("cluster", ANY),))
)
CONTROL_CLUSTER_INSPECT: Final = register(
    MessageType(
        "control.cluster.inspect",
        (Field("cluster", STR, required=False),),
        reply="control.cluster.inspect.reply",
        doc="The cluster (default: 'default'), without its private keys.",
    )
)
# -- end of control API block --------------------------------------------------------------


# -- ca: certificate authority and join protocol (actors/ca/service.py, actors/ca/join.py) -
# Owned by the CA service. ``ca.hello`` is served only on a manager's join-hello endpoint,
# whose CURVE server key is published (actors/ca/join.py explains why that is sound): it
# hands out public material only. ``ca.root`` and ``ca.join`` are open to any
# CURVE key on the remote endpoint; ``ca.renew`` needs a live node certificate and its
# CSR must carry the caller's own CURVE key. Certificates and CSRs are PEM bytes. Failures
# are ``error`` replies: invalid_token, wrong_cluster, invalid_csr, invalid_argument,
# unauthorized, not_leader, unavailable.

CA_HELLO_REPLY: Final = register(
    MessageType(
        "ca.hello.reply",
        (Field("ca_cert", BYTES), Field("manager_cert", BYTES), Field("addr", STR)),
        doc="The root CA certificate and this manager's certificate (which binds its CURVE "
        "server key); addr: its remote endpoint as advertised ('' if unknown).",
    )
)
CA_HELLO: Final = register(
    MessageType(
        "ca.hello",
        reply="ca.hello.reply",
        doc="Bootstrap of a join: learn the manager's certified CURVE server key.",
    )
)
CA_ROOT_REPLY: Final = register(
    MessageType(
        "ca.root.reply",
        (Field("ca_cert", BYTES), Field("manager_cert", BYTES)),
        doc="The root CA certificate and the answering manager's own certificate.",
    )
)
CA_ROOT: Final = register(
    MessageType("ca.root", reply="ca.root.reply", doc="Ask for the root CA certificate.")
)
CA_JOIN_REPLY: Final = register(
    MessageType(
        "ca.join.reply",
        (
            Field("node_id", STR),
            Field("role", STR),
            Field("cluster_id", STR),
            Field("certificate", BYTES),
            Field("ca_cert", BYTES),
            Field("managers", ListOf(MANAGER_ADDRESS)),
        ),
        doc="The new node's id, role (manager|worker), certificate and the manager list.",
    )
)
CA_JOIN: Final = register(
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
CA_RENEW_REPLY: Final = register(
    MessageType(
        "ca.renew.reply",
        (
            Field("node_id", STR),
            Field("role", STR),
            Field("certificate", BYTES),
            Field("ca_cert", BYTES),
        ),
        doc="The re-issued certificate (role: the node's current role in the store).",
    )
)
CA_RENEW: Final = register(
    MessageType(
        "ca.renew",
        (Field("csr", BYTES),),
        reply="ca.renew.reply",
        doc="Re-issue the caller's certificate for the same node id and CURVE key.",
    )
)
# -- end of ca block -----------------------------------------------------------------------


# -- cluster membership and settings (actors/node_membership.py, actors/control/cluster.py) -
# ``raft.join`` is sent by a manager that joined with a manager token to any manager's
# remote endpoint (authorization: managers only): the leader adds it to the Raft group as
# a learner (ok), a follower answers ok=false with the leader's address when it knows it.
# ``control.cluster.join_token`` and ``control.cluster.update`` are control API requests.

RAFT_JOIN_REPLY: Final = register(
    MessageType(
        "raft.join.reply",
        (
            Field("ok", BOOL),
            Field("index", INT, required=False),
            Field("voters", ListOf(INT), required=False),
            Field("managers", ListOf(ANY), required=False),
            Field("leader_addr", STR, required=False),
            Field("leader_key", STR, required=False),
        ),
        doc="ok: the learner was added (index of the change, 0 if already a member; voters: "
        "the group's bootstrap voters, the configuration the log starts from); else try the "
        "leader at leader_addr.",
    )
)
RAFT_JOIN: Final = register(
    MessageType(
        "raft.join",
        (Field("node_id", STR), Field("raft_id", INT), Field("addr", STR)),
        reply="raft.join.reply",
        doc="Add the calling manager (its CURVE key is its Raft server key) as a learner.",
    )
)
CONTROL_CLUSTER_JOIN_TOKEN_REPLY: Final = register(
    MessageType("control.cluster.join_token.reply", (Field("role", STR), Field("token", STR)))
)
CONTROL_CLUSTER_JOIN_TOKEN: Final = register(
    MessageType(
        "control.cluster.join_token",
        (Field("role", STR), Field("rotate", BOOL, required=False)),
        reply="control.cluster.join_token.reply",
        doc="The join token of role worker|manager; rotate: replace it first (joined nodes "
        "are not affected).",
    )
)
CONTROL_CLUSTER_UPDATE_REPLY: Final = register(
    MessageType(
        "control.cluster.update.reply",
        (Field("cluster", ANY), Field("unlock_key", STR, required=False)),
        doc="unlock_key: the unlock key, when autolock was switched on.",
    )
)
CONTROL_CLUSTER_UPDATE: Final = register(
    MessageType(
        "control.cluster.update",
        (
            Field("heartbeat_period", FLOAT, required=False),
            Field("task_history_limit", INT, required=False),
            Field("snapshot_interval", INT, required=False),
            Field("cert_expiry", FLOAT, required=False),
            Field("autolock", BOOL, required=False),
        ),
        reply="control.cluster.update.reply",
        doc="Change the default cluster's settings; the reply is the updated cluster.",
    )
)
# -- end of cluster membership and settings block ------------------------------------------


# -- autolock (actors/control/unlock.py, cli/unlock.py) ------------------------------------
# ``control.unlock`` is the one request a locked manager serves (besides ``version``); every
# other control request is refused with code ``locked``. ``control.cluster.update`` (above)
# takes ``autolock`` (bool) too: its reply then carries the ``unlock_key`` when switched on.

CONTROL_UNLOCK_REPLY: Final = register(
    MessageType("control.unlock.reply", (Field("unlocked", BOOL),))
)
CONTROL_UNLOCK: Final = register(
    MessageType(
        "control.unlock",
        (Field("unlock_key", STR),),
        reply="control.unlock.reply",
        doc="Unlock a locked manager; a wrong key is refused with code invalid_unlock_key.",
    )
)
CONTROL_CLUSTER_UNLOCK_KEY_REPLY: Final = register(
    MessageType("control.cluster.unlock_key.reply", (Field("unlock_key", STR),))
)
CONTROL_CLUSTER_UNLOCK_KEY: Final = register(
    MessageType(
        "control.cluster.unlock_key",
        (Field("rotate", BOOL, required=False),),
        reply="control.cluster.unlock_key.reply",
        doc="The managers' unlock key (autolock on); rotate: replace it first.",
    )
)
# -- end of autolock block -----------------------------------------------------------------
