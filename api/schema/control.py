"""Message types of the control API, owned by actors/control; swarmctl (cli/) is its client.

Requests on a manager's control socket (ipc://). Objects in replies are the object codec's
dicts (api/codec_objects.py); list rows and summaries are the plain dicts of
actors/control/views.py (``--format json`` of swarmctl). A reference (``service``,
``node``, ``task``) is an id, a name or a unique id prefix. Failures are ``error`` replies
whose code says why: not_found, ambiguous, invalid_spec, invalid_argument, name_conflict,
conflict, not_leader, unavailable, timeout; no_leader when the manager knows no Raft leader
and so serves no cluster state (actors/control/readiness.py).

Secrets and configs (actors/control/file_objects.py, cli/secret.py, cli/config.py): a
secret's data goes in with ``create`` and never comes out of the control API; a config's
comes out of ``inspect``. ``rm`` refuses an object a service uses (code ``in_use``).

Autolock (actors/control/unlock.py, cli/unlock.py): ``control.unlock`` is the one request a
locked manager serves (besides ``version``); every other control request is refused with
code ``locked``. ``control.cluster.update`` takes ``autolock`` (bool): its reply then
carries the ``unlock_key`` when switched on.

Leaving (actors/node/leaving.py, cli/cluster.py): ``control.cluster.leave`` is served by
every node's control socket, a worker's too (Docker's ``swarm leave``); the node answers
once it has left and then exits.
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
    MapOf,
    MessageType,
    OwnerSchema,
    Struct,
)

__all__ = [
    "CA_ROTATION_PROGRESS",
    "CA_TLS_PROGRESS",
    "CONTROL_CLUSTER_CA",
    "CONTROL_CLUSTER_CA_REPLY",
    "CONTROL_CLUSTER_ENGINE_CERT",
    "CONTROL_CLUSTER_ENGINE_CERT_REPLY",
    "CONTROL_CLUSTER_INSPECT",
    "CONTROL_CLUSTER_INSPECT_REPLY",
    "CONTROL_CLUSTER_JOIN_TOKEN",
    "CONTROL_CLUSTER_JOIN_TOKEN_REPLY",
    "CONTROL_CLUSTER_LEAVE",
    "CONTROL_CLUSTER_LEAVE_REPLY",
    "CONTROL_CLUSTER_UNLOCK_KEY",
    "CONTROL_CLUSTER_UNLOCK_KEY_REPLY",
    "CONTROL_CLUSTER_UPDATE",
    "CONTROL_CLUSTER_UPDATE_REPLY",
    "CONTROL_CONFIG_CREATE",
    "CONTROL_CONFIG_INSPECT",
    "CONTROL_CONFIG_INSPECT_REPLY",
    "CONTROL_CONFIG_LS",
    "CONTROL_CONFIG_LS_REPLY",
    "CONTROL_CONFIG_REPLY",
    "CONTROL_CONFIG_RM",
    "CONTROL_CONFIG_RM_REPLY",
    "CONTROL_CONFIG_UPDATE",
    "CONTROL_EVENTS",
    "CONTROL_EVENTS_REPLY",
    "CONTROL_NETWORK_CREATE",
    "CONTROL_NETWORK_INSPECT",
    "CONTROL_NETWORK_INSPECT_REPLY",
    "CONTROL_NETWORK_LS",
    "CONTROL_NETWORK_LS_REPLY",
    "CONTROL_NETWORK_REPLY",
    "CONTROL_NETWORK_RM",
    "CONTROL_NETWORK_RM_REPLY",
    "CONTROL_NODE_INSPECT",
    "CONTROL_NODE_INSPECT_REPLY",
    "CONTROL_NODE_LS",
    "CONTROL_NODE_LS_REPLY",
    "CONTROL_NODE_RM",
    "CONTROL_NODE_RM_REPLY",
    "CONTROL_NODE_UPDATE",
    "CONTROL_NODE_UPDATE_REPLY",
    "CONTROL_SECRET_CREATE",
    "CONTROL_SECRET_INSPECT",
    "CONTROL_SECRET_INSPECT_REPLY",
    "CONTROL_SECRET_LS",
    "CONTROL_SECRET_LS_REPLY",
    "CONTROL_SECRET_REPLY",
    "CONTROL_SECRET_RM",
    "CONTROL_SECRET_RM_REPLY",
    "CONTROL_SECRET_UPDATE",
    "CONTROL_SERVICE_CREATE",
    "CONTROL_SERVICE_HISTORY",
    "CONTROL_SERVICE_HISTORY_REPLY",
    "CONTROL_SERVICE_INSPECT",
    "CONTROL_SERVICE_INSPECT_REPLY",
    "CONTROL_SERVICE_LS",
    "CONTROL_SERVICE_LS_REPLY",
    "CONTROL_SERVICE_PLAN",
    "CONTROL_SERVICE_PLAN_REPLY",
    "CONTROL_SERVICE_PS",
    "CONTROL_SERVICE_PS_REPLY",
    "CONTROL_SERVICE_REPLY",
    "CONTROL_SERVICE_RM",
    "CONTROL_SERVICE_RM_REPLY",
    "CONTROL_SERVICE_ROLLBACK",
    "CONTROL_SERVICE_SCALE",
    "CONTROL_SERVICE_UPDATE",
    "CONTROL_TASK_INSPECT",
    "CONTROL_TASK_INSPECT_REPLY",
    "CONTROL_TASK_LS",
    "CONTROL_TASK_LS_REPLY",
    "CONTROL_UNLOCK",
    "CONTROL_UNLOCK_REPLY",
    "REGISTRY_AUTH",
    "SCHEMA",
]

# requests come from a user (swarmctl, the Engine API): a field they do not declare is
# refused, naming it, never ignored (api/schema/declare.py); replies take newer fields
SCHEMA: Final = OwnerSchema("control", strict_requests=True)

# ``--with-registry-auth``: the credentials swarmctl found in the user's docker config for
# the image's registry; kept with the service, never shown again (a RegistryAuth)
REGISTRY_AUTH: Final = Struct(
    (
        Field("server_address", STR),
        Field("username", STR),
        Field("password", STR),
        Field("identity_token", STR, required=False),
    )
)

CONTROL_SERVICE_REPLY: Final = SCHEMA.declare(
    MessageType(
        "control.service.reply",
        (Field("id", STR), Field("changed", BOOL), Field("service", ANY)),
        doc="The service written (summary) and whether its spec changed.",
    )
)
CONTROL_SERVICE_CREATE: Final = SCHEMA.declare(
    MessageType(
        "control.service.create",
        (Field("spec", ANY), Field("registry_auth", REGISTRY_AUTH, required=False)),
        reply="control.service.reply",
        doc="Create a service from a ServiceSpec dict; validated before anything is written. "
        "registry_auth: credentials for pulling its image.",
    )
)
CONTROL_SERVICE_UPDATE: Final = SCHEMA.declare(
    MessageType(
        "control.service.update",
        (
            Field("service", STR),
            Field("changes", MapOf(ANY), required=False),
            Field("spec", ANY, required=False),
            Field("version", INT, required=False),
            Field("registry_auth", REGISTRY_AUTH, required=False),
        ),
        reply="control.service.reply",
        doc="Apply flag options (api/service_options.py) to a service's spec, or replace "
        "it with spec (a whole ServiceSpec dict, as stack deploy sends); one of the two. "
        "changed: false when the result is the spec it has. With version, refused if the "
        "service changed since; registry_auth replaces the credentials for pulling its image.",
    )
)
CONTROL_SERVICE_SCALE: Final = SCHEMA.declare(
    MessageType(
        "control.service.scale",
        (Field("service", STR), Field("replicas", INT)),
        reply="control.service.reply",
        doc="Set a replicated service's replica count.",
    )
)
CONTROL_SERVICE_ROLLBACK: Final = SCHEMA.declare(
    MessageType(
        "control.service.rollback",
        (
            Field("service", STR),
            Field("to_version", INT, required=False),
            Field("version", INT, required=False),
        ),
        reply="control.service.reply",
        doc="Roll a service back to its previous spec, or to_version of its history, paced "
        "by the rollback config; with version, refused if the service changed since.",
    )
)
CONTROL_SERVICE_HISTORY_REPLY: Final = SCHEMA.declare(
    MessageType(
        "control.service.history.reply", (Field("service", ANY), Field("history", ListOf(ANY)))
    )
)
CONTROL_SERVICE_HISTORY: Final = SCHEMA.declare(
    MessageType(
        "control.service.history",
        (Field("service", STR),),
        reply="control.service.history.reply",
        doc="A service's summary and its kept specs, oldest first: version, time, how, "
        "what changed.",
    )
)
CONTROL_SERVICE_LS_REPLY: Final = SCHEMA.declare(
    MessageType("control.service.ls.reply", (Field("services", ListOf(ANY)),))
)
CONTROL_SERVICE_LS: Final = SCHEMA.declare(
    MessageType(
        "control.service.ls",
        (
            Field("all", BOOL, required=False),
            Field("full", BOOL, required=False),
            Field("stream", BOOL, required=False),
        ),
        reply="control.service.ls.reply",
        doc="Service summaries; all: include services being removed; full: each summary "
        "also carries the whole service as ``object`` (the Engine API's list); stream: "
        "the rows come in frames (each more, then a final one) from one read.",
    )
)
CONTROL_SERVICE_INSPECT_REPLY: Final = SCHEMA.declare(
    MessageType("control.service.inspect.reply", (Field("service", ANY), Field("summary", ANY)))
)
CONTROL_SERVICE_INSPECT: Final = SCHEMA.declare(
    MessageType(
        "control.service.inspect",
        (Field("service", STR),),
        reply="control.service.inspect.reply",
        doc="One service: the object and its summary.",
    )
)
CONTROL_SERVICE_PS_REPLY: Final = SCHEMA.declare(
    MessageType("control.service.ps.reply", (Field("service", ANY), Field("tasks", ListOf(ANY))))
)
CONTROL_SERVICE_PS: Final = SCHEMA.declare(
    MessageType(
        "control.service.ps",
        (
            Field("service", STR),
            Field("desired_state", STR, required=False),
            Field("stream", BOOL, required=False),
        ),
        reply="control.service.ps.reply",
        doc="A service's summary and its tasks (current and kept history), as rows; "
        "stream: the rows come in frames (each more, then a final one) from one read.",
    )
)
CONTROL_SERVICE_PLAN_REPLY: Final = SCHEMA.declare(
    MessageType(
        "control.service.plan.reply",
        (Field("service", STR), Field("steps", ListOf(ANY)), Field("notes", ListOf(STR))),
    )
)
CONTROL_SERVICE_PLAN: Final = SCHEMA.declare(
    MessageType(
        "control.service.plan",
        (
            Field("spec", ANY, required=False),
            Field("service", STR, required=False),
            Field("changes", MapOf(ANY), required=False),
            Field("rollback", BOOL, required=False),
            Field("to_version", INT, required=False),
        ),
        reply="control.service.plan.reply",
        doc="What a create (spec), an update (service, changes) or a rollback (service, "
        "rollback, to_version) would do: tasks to start, stop, replace, and those that "
        "would stay pending, with nodes and reasons; nothing is written (service "
        "create|update|rollback --dry-run).",
    )
)
CONTROL_SERVICE_RM_REPLY: Final = SCHEMA.declare(
    MessageType("control.service.rm.reply", (Field("removed", ListOf(STR)),))
)
CONTROL_SERVICE_RM: Final = SCHEMA.declare(
    MessageType(
        "control.service.rm",
        (Field("services", ListOf(STR)),),
        reply="control.service.rm.reply",
        doc="Mark services for removal (all resolved first, else nothing is written).",
    )
)
CONTROL_NODE_LS_REPLY: Final = SCHEMA.declare(
    MessageType("control.node.ls.reply", (Field("nodes", ListOf(ANY)),))
)
CONTROL_NODE_LS: Final = SCHEMA.declare(
    MessageType(
        "control.node.ls",
        (
            Field("full", BOOL, required=False),
            Field("filters", ListOf(STR), required=False),
            Field("stream", BOOL, required=False),
        ),
        reply="control.node.ls.reply",
        doc="Node rows; full: each row also carries the whole node as ``object`` (the "
        "Engine API's list); filters: docker node ls's KEY=VALUE words "
        "(api/list_filters.py); stream: the rows come in frames (each more, then a final "
        "one) from one read.",
    )
)
CONTROL_NODE_INSPECT_REPLY: Final = SCHEMA.declare(
    MessageType("control.node.inspect.reply", (Field("node", ANY), Field("summary", ANY)))
)
CONTROL_NODE_INSPECT: Final = SCHEMA.declare(
    MessageType(
        "control.node.inspect",
        (Field("node", STR),),
        reply="control.node.inspect.reply",
        doc="One node: the object and its row.",
    )
)
CONTROL_NODE_UPDATE_REPLY: Final = SCHEMA.declare(
    MessageType(
        "control.node.update.reply", (Field("id", STR), Field("changed", BOOL), Field("node", ANY))
    )
)
CONTROL_NODE_UPDATE: Final = SCHEMA.declare(
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
CONTROL_NODE_RM_REPLY: Final = SCHEMA.declare(
    MessageType("control.node.rm.reply", (Field("id", STR),))
)
CONTROL_NODE_RM: Final = SCHEMA.declare(
    MessageType(
        "control.node.rm",
        (Field("node", STR), Field("force", BOOL, required=False)),
        reply="control.node.rm.reply",
        doc="Remove a node (DOWN, or force) and revoke its certificate.",
    )
)
CONTROL_TASK_LS_REPLY: Final = SCHEMA.declare(
    MessageType("control.task.ls.reply", (Field("tasks", ListOf(ANY)),))
)
CONTROL_TASK_LS: Final = SCHEMA.declare(
    MessageType(
        "control.task.ls",
        (
            Field("service", STR, required=False),
            Field("node", STR, required=False),
            Field("desired_state", STR, required=False),
            Field("filters", ListOf(STR), required=False),
            Field("full", BOOL, required=False),
            Field("stream", BOOL, required=False),
        ),
        reply="control.task.ls.reply",
        doc="Task rows, filtered by service, node, desired state and filters (docker node "
        "ps's KEY=VALUE words: api/list_filters.py); full: each row also "
        "carries the whole task as ``object`` (the Engine API's list); stream: the rows "
        "come in frames (each more, then a final one) from one read of the store.",
    )
)
CONTROL_TASK_INSPECT_REPLY: Final = SCHEMA.declare(
    MessageType("control.task.inspect.reply", (Field("task", ANY), Field("summary", ANY)))
)
CONTROL_TASK_INSPECT: Final = SCHEMA.declare(
    MessageType(
        "control.task.inspect",
        (Field("task", STR),),
        reply="control.task.inspect.reply",
        doc="One task: the object and its row.",
    )
)
CONTROL_CLUSTER_INSPECT_REPLY: Final = SCHEMA.declare(
    MessageType("control.cluster.inspect.reply", (Field("cluster", ANY),))
)
CONTROL_CLUSTER_INSPECT: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.inspect",
        (Field("cluster", STR, required=False),),
        reply="control.cluster.inspect.reply",
        doc="The cluster (default: 'default'), without its private keys.",
    )
)
CONTROL_CLUSTER_JOIN_TOKEN_REPLY: Final = SCHEMA.declare(
    MessageType("control.cluster.join_token.reply", (Field("role", STR), Field("token", STR)))
)
CONTROL_CLUSTER_JOIN_TOKEN: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.join_token",
        (Field("role", STR), Field("rotate", BOOL, required=False)),
        reply="control.cluster.join_token.reply",
        doc="The join token of role worker|manager; rotate: replace it first (joined nodes "
        "are not affected).",
    )
)
CONTROL_CLUSTER_UPDATE_REPLY: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.update.reply",
        (Field("cluster", ANY), Field("unlock_key", STR, required=False)),
        doc="unlock_key: the unlock key, when autolock was switched on.",
    )
)
CONTROL_CLUSTER_UPDATE: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.update",
        (
            Field("heartbeat_period", FLOAT, required=False),
            Field("task_history_limit", INT, required=False),
            Field("service_history_limit", INT, required=False),
            Field("snapshot_interval", INT, required=False),
            Field("cert_expiry", FLOAT, required=False),
            Field("autolock", BOOL, required=False),
            Field("allow_bind_mounts", BOOL, required=False),
            Field("version", INT, required=False),
        ),
        reply="control.cluster.update.reply",
        doc="Change the default cluster's settings; the reply is the updated cluster. "
        "version: refused (conflict) unless the cluster is still at that version.",
    )
)
CONTROL_CLUSTER_ENGINE_CERT_REPLY: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.engine_cert.reply", (Field("cert", BYTES), Field("ca_cert", BYTES))
    )
)
CONTROL_CLUSTER_ENGINE_CERT: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.engine_cert",
        (Field("csr", BYTES), Field("hosts", ListOf(STR), required=False)),
        reply="control.cluster.engine_cert.reply",
        doc="Sign a P-256 CSR into an Engine API TLS certificate for hosts (actors/ca/"
        "engine_certs.py: server and client, no node identity); with the CA certificate.",
    )
)
CA_ROTATION_PROGRESS: Final = Struct(
    (Field("converged", INT), Field("total", INT), Field("waiting", ListOf(STR)))
)
CA_TLS_PROGRESS: Final = Struct(
    (
        Field("desired_root", STR),
        Field("total", INT),
        Field("certificates", INT),
        Field("roots", INT),
    )
)
CONTROL_CLUSTER_CA_REPLY: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.ca.reply",
        (
            Field("ca_cert", STR),
            Field("rotation", CA_ROTATION_PROGRESS, required=False),
            Field("tls", CA_TLS_PROGRESS, required=False),
        ),
        doc="The root CA certificate (PEM); rotation, while a root CA rotation is under "
        "way: nodes that report a certificate of the new root, of all (waiting: some of "
        "the ids of the others); tls: by the nodes' own reports, the digest of the root "
        "they should be on (the new one during a rotation), how many report a certificate "
        "it issued and how many trust it alone, of all (Docker's rotated TLS and CA "
        "certificates).",
    )
)
CONTROL_CLUSTER_CA: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.ca",
        (
            Field("rotate", BOOL, required=False),
            Field("ca_cert", BYTES, required=False),
            Field("ca_key", BYTES, required=False),
        ),
        reply="control.cluster.ca.reply",
        doc="The cluster's root CA; rotate: start a root CA rotation first (a new root, "
        "cross-signed by the current one; completes once every node reports a certificate "
        "from it, then the join tokens change); ca_cert and ca_key (PEM, ECDSA P-256, at "
        "most 8 KiB each): the new root, instead of one the CA makes.",
    )
)
CONTROL_UNLOCK_REPLY: Final = SCHEMA.declare(
    MessageType("control.unlock.reply", (Field("unlocked", BOOL),))
)
CONTROL_UNLOCK: Final = SCHEMA.declare(
    MessageType(
        "control.unlock",
        (Field("unlock_key", STR),),
        reply="control.unlock.reply",
        doc="Unlock a locked manager; a wrong key is refused with code invalid_unlock_key.",
    )
)
CONTROL_CLUSTER_LEAVE_REPLY: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.leave.reply",
        (Field("node_id", STR), Field("removed", ListOf(STR))),
        doc="removed: what went from the state dir (and the node's task directories).",
    )
)
CONTROL_CLUSTER_LEAVE: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.leave",
        (Field("force", BOOL, required=False),),
        reply="control.cluster.leave.reply",
        doc="This node leaves the swarm (a manager only with force: it leaves Raft first, "
        "unless it is the last manager); its tasks are removed, its swarm state wiped, and "
        "it exits once it has answered. A manager without force is refused (unavailable) "
        "in Docker's words.",
    )
)
CONTROL_CLUSTER_UNLOCK_KEY_REPLY: Final = SCHEMA.declare(
    MessageType("control.cluster.unlock_key.reply", (Field("unlock_key", STR),))
)
CONTROL_CLUSTER_UNLOCK_KEY: Final = SCHEMA.declare(
    MessageType(
        "control.cluster.unlock_key",
        (Field("rotate", BOOL, required=False),),
        reply="control.cluster.unlock_key.reply",
        doc="The managers' unlock key (autolock on); rotate: replace it first.",
    )
)


# secrets, configs and networks: the same requests, declared once per kind by these builders
# (a network's create and inspect differ)


def _object_reply(kind: str) -> MessageType:
    return MessageType(f"control.{kind}.reply", (Field("id", STR), Field(kind, ANY)))


def _object_create(kind: str) -> MessageType:
    return MessageType(
        f"control.{kind}.create",
        (Field("spec", ANY),),
        reply=f"control.{kind}.reply",
        doc=f"Create a {kind} from a {kind.capitalize()}Spec dict (name, labels, data, "
        "templating: a template driver or empty); "
        "validated before anything is written.",
    )


def _object_ls_reply(kind: str) -> MessageType:
    return MessageType(f"control.{kind}.ls.reply", (Field(f"{kind}s", ListOf(ANY)),))


def _object_ls(kind: str) -> MessageType:
    return MessageType(
        f"control.{kind}.ls",
        reply=f"control.{kind}.ls.reply",
        doc=f"{kind.capitalize()} rows (id, name, labels, times): never the data.",
    )


def _object_inspect_reply(kind: str) -> MessageType:
    return MessageType(f"control.{kind}.inspect.reply", (Field(kind, ANY),))


def _object_inspect(kind: str, shown: str) -> MessageType:
    return MessageType(
        f"control.{kind}.inspect",
        (Field(kind, STR),),
        reply=f"control.{kind}.inspect.reply",
        doc=f"One {kind}: the object, {shown}.",
    )


def _object_rm_reply(kind: str) -> MessageType:
    return MessageType(f"control.{kind}.rm.reply", (Field("removed", ListOf(STR)),))


def _object_rm(kind: str) -> MessageType:
    return MessageType(
        f"control.{kind}.rm",
        (Field(f"{kind}s", ListOf(STR)),),
        reply=f"control.{kind}.rm.reply",
        doc=f"Remove {kind}s (all resolved first; one a service uses: in_use, nothing removed).",
    )


def _object_update(kind: str) -> MessageType:
    return MessageType(
        f"control.{kind}.update",
        (
            Field(kind, STR),
            Field("version", INT),
            Field("labels", MapOf(STR)),
            Field("data", BYTES, required=False),
        ),
        reply=f"control.{kind}.reply",
        doc=f"Replace a {kind}'s labels at the version read (Docker's {kind} update): data, "
        "when given, must be the stored data (only updates to labels are allowed).",
    )


CONTROL_SECRET_REPLY: Final = SCHEMA.declare(_object_reply("secret"))
CONTROL_SECRET_UPDATE: Final = SCHEMA.declare(_object_update("secret"))
CONTROL_SECRET_CREATE: Final = SCHEMA.declare(_object_create("secret"))
CONTROL_SECRET_LS_REPLY: Final = SCHEMA.declare(_object_ls_reply("secret"))
CONTROL_SECRET_LS: Final = SCHEMA.declare(_object_ls("secret"))
CONTROL_SECRET_INSPECT_REPLY: Final = SCHEMA.declare(_object_inspect_reply("secret"))
CONTROL_SECRET_INSPECT: Final = SCHEMA.declare(_object_inspect("secret", "without its data"))
CONTROL_SECRET_RM_REPLY: Final = SCHEMA.declare(_object_rm_reply("secret"))
CONTROL_SECRET_RM: Final = SCHEMA.declare(_object_rm("secret"))
CONTROL_CONFIG_REPLY: Final = SCHEMA.declare(_object_reply("config"))
CONTROL_CONFIG_CREATE: Final = SCHEMA.declare(_object_create("config"))
CONTROL_CONFIG_LS_REPLY: Final = SCHEMA.declare(_object_ls_reply("config"))
CONTROL_CONFIG_LS: Final = SCHEMA.declare(_object_ls("config"))
CONTROL_CONFIG_INSPECT_REPLY: Final = SCHEMA.declare(_object_inspect_reply("config"))
CONTROL_CONFIG_INSPECT: Final = SCHEMA.declare(_object_inspect("config", "with its data"))
CONTROL_CONFIG_RM_REPLY: Final = SCHEMA.declare(_object_rm_reply("config"))
CONTROL_CONFIG_RM: Final = SCHEMA.declare(_object_rm("config"))
CONTROL_CONFIG_UPDATE: Final = SCHEMA.declare(_object_update("config"))
CONTROL_NETWORK_REPLY: Final = SCHEMA.declare(_object_reply("network"))
CONTROL_NETWORK_CREATE: Final = SCHEMA.declare(
    MessageType(
        "control.network.create",
        (Field("spec", ANY),),
        reply="control.network.reply",
        doc="Create a network from a NetworkSpec dict (name, labels, driver, internal).",
    )
)
CONTROL_NETWORK_LS_REPLY: Final = SCHEMA.declare(_object_ls_reply("network"))
CONTROL_NETWORK_LS: Final = SCHEMA.declare(
    MessageType("control.network.ls", reply="control.network.ls.reply", doc="Network rows.")
)
CONTROL_NETWORK_INSPECT_REPLY: Final = SCHEMA.declare(
    MessageType("control.network.inspect.reply", (Field("network", ANY), Field("summary", ANY)))
)
CONTROL_NETWORK_INSPECT: Final = SCHEMA.declare(
    MessageType(
        "control.network.inspect",
        (Field("network", STR),),
        reply="control.network.inspect.reply",
        doc="One network: the object, its row and the services using it.",
    )
)
CONTROL_NETWORK_RM_REPLY: Final = SCHEMA.declare(_object_rm_reply("network"))
CONTROL_NETWORK_RM: Final = SCHEMA.declare(_object_rm("network"))
CONTROL_EVENTS_REPLY: Final = SCHEMA.declare(
    MessageType(
        "control.events.reply",
        (
            Field("events", ListOf(ANY)),
            Field("position", INT),
            Field("end", STR),
            Field("held_after", INT, required=False),
            Field("held_oldest_time", FLOAT, required=False),
        ),
        doc="Streamed: events (api/events.py words) in commit order; position: every change "
        "at or below it was sent or filtered out (resume from it). The final frame's end says "
        "why the stream ended: lease (ask again since position), until, closed. With "
        "since_held and a since_time before the held history, the first frame says where that "
        "history starts: held_after (the position after which changes are held) and "
        "held_oldest_time (the oldest held change's time; absent when none is held).",
    )
)
CONTROL_EVENTS: Final = SCHEMA.declare(
    MessageType(
        "control.events",
        (
            Field("filters", ListOf(STR), required=False),
            Field("since_position", INT, required=False),
            Field("since_time", FLOAT, required=False),
            Field("since_held", BOOL, required=False),
            Field("until_position", INT, required=False),
            Field("until_time", FLOAT, required=False),
            Field("wait", FLOAT, required=False),
        ),
        reply="control.events.reply",
        doc="Watch cluster events from this manager's own store (actors/events/): "
        "filters are KEY=VALUE words; since/until a position or a time; wait: seconds this "
        "stream lasts before its final frame (a lease; at most 60). A since that is no longer "
        "held is refused with code gone; since_held: a since_time before the held history "
        "starts at the oldest change held instead, as Docker's events do.",
    )
)
