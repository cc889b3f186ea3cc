"""Message types of consensus between managers, owned by the RaftNode (actors/raft_node).

Peers exchange ``raft.messages`` one way: each frame carries many Raft messages packed by
actors/raft_node/wire.py into ``batch`` (opaque here, like etcd's raftpb payload), ``seq``
counts the sender's frames to this peer (the receiver processes the frames it has in that
order). ``raft.propose`` hands entries to a node (a follower forwards them to the leader,
``forwarded`` set); the reply's ``index`` is the last entry's, sent once it is committed
and applied on the answering node; ``error`` is ``not_leader`` (with ``leader_id``, 0 when
unknown), ``too_large`` (with ``size`` and ``limit``) or ``dropped`` (outcome unknown). A
batch larger than a frame should carry (a snapshot) travels as ``raft.chunk`` frames,
numbered by ``seq`` like the others, that the receiver puts back together
(actors/raft_node/frames.py). A member answers the frames of a member removed from the
group with one-way ``raft.removed`` notices (etcd's and SwarmKit's ErrMemberRemoved): the
removed member stops taking part (actors/raft_node/peers.py).

Joining the group is the membership's (api/schema/membership.py).
"""

from __future__ import annotations

from typing import Final

from api.schema.declare import BOOL, BYTES, INT, STR, Field, ListOf, MessageType, OwnerSchema

__all__ = [
    "RAFT_CHUNK",
    "RAFT_MESSAGES",
    "RAFT_PROPOSE",
    "RAFT_PROPOSE_REPLY",
    "RAFT_REMOVED",
    "RAFT_STATUS",
    "RAFT_STATUS_REPLY",
    "SCHEMA",
]

SCHEMA: Final = OwnerSchema("raft")

RAFT_MESSAGES: Final = SCHEMA.declare(
    MessageType(
        "raft.messages",
        (Field("from", INT), Field("seq", INT), Field("batch", BYTES)),
        doc="One-way: a batch of Raft messages from member `from` (wire.py encoding).",
    )
)
RAFT_CHUNK: Final = SCHEMA.declare(
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
RAFT_REMOVED: Final = SCHEMA.declare(
    MessageType(
        "raft.removed",
        (Field("from", INT), Field("member", INT)),
        doc="One-way, to a removed member: Raft id `member` is no member of `from`'s group.",
    )
)
RAFT_PROPOSE_REPLY: Final = SCHEMA.declare(
    MessageType(
        "raft.propose.reply",
        (
            Field("index", INT),
            Field("error", STR, required=False),
            Field("leader_id", INT, required=False),
            Field("message", STR, required=False),
        ),
        doc="Index of the batch's last entry (0 on error); error not_leader|dropped|no_space.",
    )
)
RAFT_PROPOSE: Final = SCHEMA.declare(
    MessageType(
        "raft.propose",
        (Field("data", ListOf(BYTES)), Field("forwarded", BOOL, required=False)),
        reply="raft.propose.reply",
        doc="Propose entries; answered once committed and applied on the answering node.",
    )
)
RAFT_STATUS_REPLY: Final = SCHEMA.declare(
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
RAFT_STATUS: Final = SCHEMA.declare(
    MessageType("raft.status", reply="raft.status.reply", doc="Ask a member for its Raft state.")
)
