"""Message types of worker sessions, owned by the dispatcher (actors/dispatcher; the
worker's side is actors/worker/agent).

A worker's agent opens one streamed ``dispatcher.session`` request; the manager answers
with ``dispatcher.session.message`` frames (``more``) for as long as the session lives: the
first carries ``full=True`` and every task assigned to the node, the next ones added or
changed tasks and removed ids. With them come the secrets and configs (objects with their
data) that the node's tasks need, and the ids of those they no longer need: only ever for
the tasks of the session's own node. A frame whose body passes half the frame limit goes
as several, in order (actors/dispatcher/frame_packing.py): changes as frames of their
own, a full set, to a node whose session request names ``parts``, as ``part`` 0 to
``parts`` - 1 that the node assembles before acting on any (at most 16:
actors/worker/set_assembly.py). A final frame (no ``more``) carries ``closed``: why the
manager ended the session. Tasks and statuses travel as the object codec's dicts
(api/codec_objects.py). Heartbeats and status batches name the session; a session stays
with the CURVE key that opened it.
"""

from __future__ import annotations

from typing import Final

from api.schema.declare import (
    ANY,
    BOOL,
    BYTES,
    FLOAT,
    INT,
    STR,
    Field,
    ListOf,
    MessageType,
    OwnerSchema,
    Struct,
)

__all__ = [
    "CA_TRUST",
    "DISPATCHER_HEARTBEAT",
    "DISPATCHER_HEARTBEAT_REPLY",
    "DISPATCHER_SESSION",
    "DISPATCHER_SESSION_MESSAGE",
    "DISPATCHER_STATUS",
    "DISPATCHER_STATUS_REPLY",
    "EXECUTOR",
    "MANAGER_ADDRESS",
    "NODE_TLS",
    "REFUSED_ITEM",
    "SCHEMA",
    "SERVICE_AUTH",
    "TASK_STATUS_UPDATE",
]

SCHEMA: Final = OwnerSchema("dispatcher")

MANAGER_ADDRESS: Final = Struct((Field("addr", STR), Field("server_key", STR)))
SERVICE_AUTH: Final = Struct((Field("service_id", STR), Field("auth", ANY)))
CA_TRUST: Final = Struct((Field("issuer", STR), Field("roots", ListOf(STR))))
# a node's executor (api/objects.py ExecutorDescription): beside its description, not in
# it, because a description is decoded strictly and a manager older than the field would
# refuse the session; bounded by api/validation.py validate_node_description
EXECUTOR: Final = Struct((Field("kind", STR), Field("capabilities", ListOf(STR))))
# the certificate a node uses, as it reports it (api/objects.py NodeTLSInfo, bounded by
# api/node_tls.py): beside its description, as the executor is
NODE_TLS: Final = Struct(
    (
        Field("trust_roots", ListOf(STR)),
        Field("cert_issuer_subject", BYTES),
        Field("cert_issuer_public_key", BYTES),
    )
)

DISPATCHER_SESSION_MESSAGE: Final = SCHEMA.declare(
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
            Field("networks", ListOf(ANY), required=False),
            Field("registry_auths", ListOf(SERVICE_AUTH), required=False),
            Field("secrets", ListOf(ANY), required=False),
            Field("secrets_removed", ListOf(STR), required=False),
            Field("configs", ListOf(ANY), required=False),
            Field("configs_removed", ListOf(STR), required=False),
            Field("ingress", ListOf(ANY), required=False),
            Field("mesh", ANY, required=False),
            Field("specs", ListOf(ANY), required=False),
            Field("specs_base", INT, required=False),
            Field("role", STR, required=False),
            Field("part", INT, required=False),
            Field("parts", INT, required=False),
        ),
        doc="One frame of a session: assignments (full set or changes), the secrets and "
        "configs they need, and session metadata; networks (Network dicts) and "
        "registry_auths (a service id and a RegistryAuth dict each): what the frame's "
        "tasks need; ingress: the routing mesh's whole table when it changed (port, "
        "protocol, service, backends as [address, port]; actors/dispatcher/ingress.py), "
        "to a node whose session request names no mesh; mesh: the table's change since "
        "the session's last (version, base, ports with backends added and removed, ports "
        "closed; base 0: the full table; actors/dispatcher/ingress_changes.py); specs "
        "and specs_base, to a node whose session request names specs: the TaskSpec dicts "
        "the node adds to its session's table at index specs_base (0: the table starts "
        "again), and each task's spec is then its index in that table "
        "(actors/dispatcher/spec_tables.py); role: the node's role in the store, on the "
        "session's first frame and when it changed since its last (the node renews its "
        "certificate towards it); part and parts: this frame is part ``part`` (from 0) of a "
        "full set sent in ``parts`` frames, to a node whose session request names parts "
        "(it acts on the set once it holds every part).",
    )
)
DISPATCHER_SESSION: Final = SCHEMA.declare(
    MessageType(
        "dispatcher.session",
        (
            Field("node_id", STR),
            Field("description", ANY),
            Field("addr", STR, required=False),
            Field("mesh", INT, required=False),
            Field("specs", INT, required=False),
            Field("parts", INT, required=False),
            Field("executor", EXECUTOR, required=False),
            Field("tls", NODE_TLS, required=False),
        ),
        reply="dispatcher.session.message",
        doc="Open a worker session (streamed reply); description is a NodeDescription dict "
        "without its executor and TLS info; mesh (1): the node reads the routing mesh's "
        "table as changes (frame field mesh); specs (1): it keeps its session's specs, and "
        "each task's spec is an index there; parts (1): it assembles a full set sent in "
        "several frames (frame fields part and parts); executor: what runs its tasks, kind "
        "and capabilities (at most 64 of 64 characters; api/executor_capabilities.py); absent: "
        "a node older than the field, taken as the docker executor; tls: the certificate "
        "the node uses (the digests of the roots it trusts, its issuer's subject and "
        "public key, DER); absent: a node older than the field, which a root CA rotation "
        "waits for.",
    )
)
DISPATCHER_HEARTBEAT_REPLY: Final = SCHEMA.declare(
    MessageType(
        "dispatcher.heartbeat.reply",
        (
            Field("period", FLOAT),
            Field("frames", INT, required=False),
            Field("role", STR, required=False),
            Field("ca", CA_TRUST, required=False),
        ),
        doc="When to send the next heartbeat, in seconds; frames: how many session frames "
        "the manager has sent so far (a worker that got fewer lost its stream); role: the "
        "node's role in the store (manager|worker; the agent renews its certificate when "
        "it differs from the certificate's); ca: the digest of the root the cluster's CA "
        "issues under and of each root it trusts (a root CA rotation: the node renews "
        "when its certificate's issuer differs, and drops the roots no longer listed).",
    )
)
DISPATCHER_HEARTBEAT: Final = SCHEMA.declare(
    MessageType(
        "dispatcher.heartbeat",
        (
            Field("node_id", STR),
            Field("session_id", STR),
            Field("tls", NODE_TLS, required=False),
        ),
        reply="dispatcher.heartbeat.reply",
        doc="A session's heartbeat; tls: the certificate the node uses, when it changed "
        "since the session request or the last heartbeat that said it (a renewal "
        "installed, a root dropped).",
    )
)
TASK_STATUS_UPDATE: Final = Struct((Field("task_id", STR), Field("status", ANY)))
REFUSED_ITEM: Final = Struct((Field("task_id", STR), Field("reason", STR)))
DISPATCHER_STATUS_REPLY: Final = SCHEMA.declare(
    MessageType(
        "dispatcher.status.reply",
        (Field("accepted", INT), Field("refused", ListOf(REFUSED_ITEM))),
        doc="How many updates were accepted; the refused ones, each with its reason.",
    )
)
DISPATCHER_STATUS: Final = SCHEMA.declare(
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
