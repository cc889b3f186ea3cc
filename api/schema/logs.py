"""Message types of log streaming, owned by actors/logs (the leader's broker, the nodes'
publishers); swarmctl (cli/logs.py) is the client of the two ``control.logs.*`` types.

Built like SwarmKit's log broker (DESIGN.md §10):

- A subscriber (``control.logs.subscribe`` on any manager's control socket, relayed by a
  follower as ``logs.subscribe`` to the leader: managers only) names what to read: tasks
  by service or task references, or one node's own structured log. The leader's broker
  holds the subscription and answers its id.
- Every node's agent keeps a ``logs.listen`` stream open with its session's manager: the
  first frame (``full``) carries every open subscription that concerns the node, later
  frames new and closed ones. A node reads what a subscription asks from its executor
  (task output) or its event ring (node log) and sends it back in ``logs.publish``
  batches; ``close`` marks its last batch for the subscription. Both act for the node of
  the caller's certificate, and a node may publish only its own tasks' lines.
- The subscriber reads with ``logs.read`` (``control.logs.read``): records after
  ``after`` (the sequence number of the last record it has), waiting up to ``wait``
  seconds for some. A reply carries the records, the task names that prefix them, notices
  (a node that did not answer), how many records were dropped because the reader did not
  keep up, and ``done`` when nothing more will come. A subscription nobody reads is
  dropped; a new leader knows none (``unknown_subscription``): the client subscribes again.
- A reader done before the subscription is (``logs -f`` interrupted, a ``docker logs``
  client gone) closes it (``logs.close``, ``control.logs.close``): the broker drops it and
  tells its nodes at once, instead of after its idle timeout.

Records: ``ts`` in nanoseconds since the epoch, ``stream`` ``stdout``, ``stderr`` or
``event`` (a node log event: ``data`` is its JSON object), ``task_id`` empty for events.
"""

from __future__ import annotations

from typing import Final

from api.schema.declare import (
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
    "CONTROL_LOGS_READ",
    "CONTROL_LOGS_SUBSCRIBE",
    "LOGS_LISTEN",
    "LOGS_LISTEN_MESSAGE",
    "LOGS_PUBLISH",
    "LOGS_PUBLISH_REPLY",
    "LOGS_READ",
    "LOGS_READ_REPLY",
    "LOGS_SUBSCRIBE",
    "LOGS_SUBSCRIBE_REPLY",
    "LOG_OPTIONS",
    "LOG_RECORD",
    "LOG_SELECTOR",
    "LOG_SUBSCRIPTION",
    "SCHEMA",
    "TASK_CONTEXT",
]

SCHEMA: Final = OwnerSchema("logs")

LOG_RECORD: Final = Struct(
    (Field("task_id", STR), Field("ts", INT), Field("stream", STR), Field("data", BYTES))
)
LOG_SELECTOR: Final = Struct(
    (
        Field("services", ListOf(STR), required=False),
        Field("tasks", ListOf(STR), required=False),
        Field("node", STR, required=False),
    )
)
LOG_OPTIONS: Final = Struct(
    (
        Field("follow", BOOL),
        Field("tail", INT),  # -1: every line
        Field("since", INT),  # nanoseconds since the epoch; 0: from the first line
        Field("min_level", STR, required=False),  # node logs
        Field("subsystems", ListOf(STR), required=False),  # node logs
    )
)
LOG_SUBSCRIPTION: Final = Struct(
    (
        Field("id", STR),
        Field("close", BOOL),
        Field("kind", STR),  # tasks | node
        Field("service_ids", ListOf(STR)),
        Field("task_ids", ListOf(STR)),
        Field("options", LOG_OPTIONS),
    )
)
TASK_CONTEXT: Final = Struct(
    (
        Field("id", STR),
        Field("service", STR),
        Field("slot", INT),
        Field("node_id", STR),
        Field("node", STR),
    )
)

# -- nodes and the leader's broker -----------------------------------------------------------

LOGS_LISTEN_MESSAGE: Final = SCHEMA.declare(
    MessageType(
        "logs.listen.message",
        (
            Field("full", BOOL),
            Field("subscriptions", ListOf(LOG_SUBSCRIPTION)),
            Field("closed", STR, required=False),
        ),
        doc="Subscriptions that concern the node: every open one (full), or changes.",
    )
)
LOGS_LISTEN: Final = SCHEMA.declare(
    MessageType(
        "logs.listen",
        (Field("node_id", STR),),
        reply="logs.listen.message",
        doc="A node's stream of log subscriptions (streamed reply), for its certificate's node.",
    )
)
LOGS_PUBLISH_REPLY: Final = SCHEMA.declare(
    MessageType(
        "logs.publish.reply",
        (
            Field("accepted", INT),
            Field("refused", INT),
            Field("stop", BOOL),
            Field("backlog", INT, required=False),
        ),
        doc="Records taken and refused (not the node's own); stop: the subscription is gone; "
        "backlog: records its reader has not read yet (the node holds back while it is high).",
    )
)
LOGS_PUBLISH: Final = SCHEMA.declare(
    MessageType(
        "logs.publish",
        (
            Field("node_id", STR),
            Field("subscription_id", STR),
            Field("records", ListOf(LOG_RECORD)),
            Field("close", BOOL),
            Field("notices", ListOf(STR), required=False),
        ),
        reply="logs.publish.reply",
        doc="A batch of one subscription's records from a node; close: its last batch.",
    )
)

# -- subscribers -----------------------------------------------------------------------------

LOGS_SUBSCRIBE_REPLY: Final = SCHEMA.declare(
    MessageType("logs.subscribe.reply", (Field("subscription_id", STR),))
)
LOGS_SUBSCRIBE: Final = SCHEMA.declare(
    MessageType(
        "logs.subscribe",
        (Field("selector", LOG_SELECTOR), Field("options", LOG_OPTIONS)),
        reply="logs.subscribe.reply",
        doc="A manager relays a subscription to the leader's broker (managers only).",
    )
)
LOGS_READ_REPLY: Final = SCHEMA.declare(
    MessageType(
        "logs.read.reply",
        (
            Field("seq", INT),
            Field("records", ListOf(LOG_RECORD)),
            Field("tasks", ListOf(TASK_CONTEXT)),
            Field("notices", ListOf(STR)),
            Field("dropped", INT),
            Field("done", BOOL),
        ),
        doc="Records after the read's position (seq: the last one's); done: no more will come.",
    )
)
LOGS_READ: Final = SCHEMA.declare(
    MessageType(
        "logs.read",
        (Field("subscription_id", STR), Field("after", INT), Field("wait", FLOAT)),
        reply="logs.read.reply",
        doc="A manager relays a read to the leader's broker (managers only).",
    )
)
LOGS_CLOSE_REPLY: Final = SCHEMA.declare(
    MessageType(
        "logs.close.reply",
        (Field("closed", BOOL),),
        doc="closed: the subscription was open (and the caller's), and is dropped now.",
    )
)
LOGS_CLOSE: Final = SCHEMA.declare(
    MessageType(
        "logs.close",
        (Field("subscription_id", STR),),
        reply="logs.close.reply",
        doc="A manager relays a reader's close to the leader's broker (managers only).",
    )
)
CONTROL_LOGS_SUBSCRIBE: Final = SCHEMA.declare(
    MessageType(
        "control.logs.subscribe",
        (Field("selector", LOG_SELECTOR), Field("options", LOG_OPTIONS)),
        reply="logs.subscribe.reply",
        doc="Subscribe to tasks' output or a node's log (swarmctl service|task|node logs).",
        strict=True,  # a user's request, as the control API's (api/schema/control.py)
    )
)
CONTROL_LOGS_READ: Final = SCHEMA.declare(
    MessageType(
        "control.logs.read",
        (Field("subscription_id", STR), Field("after", INT), Field("wait", FLOAT)),
        reply="logs.read.reply",
        doc="Read a subscription's next records (long poll of up to wait seconds).",
        strict=True,  # a user's request, as the control API's (api/schema/control.py)
    )
)
CONTROL_LOGS_CLOSE: Final = SCHEMA.declare(
    MessageType(
        "control.logs.close",
        (Field("subscription_id", STR),),
        reply="logs.close.reply",
        doc="The reader is done before the subscription: it is dropped and its nodes stop.",
        strict=True,  # a user's request, as the control API's (api/schema/control.py)
    )
)
