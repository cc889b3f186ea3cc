"""Message types of Raft group membership, owned by the node's membership (the manager
side of a join; actors/node/membership/join.py).

``raft.join`` is sent by a manager that joined with a manager token to any manager's
remote endpoint (authorization: managers only): the leader adds it to the Raft group as a
learner (ok), a follower answers ok=false with the leader's address when it knows it.
"""

from __future__ import annotations

from typing import Final

from api.schema.declare import ANY, BOOL, INT, STR, Field, ListOf, MessageType, OwnerSchema

__all__ = [
    "RAFT_JOIN",
    "RAFT_JOIN_REPLY",
    "SCHEMA",
]

SCHEMA: Final = OwnerSchema("membership")

RAFT_JOIN_REPLY: Final = SCHEMA.declare(
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
RAFT_JOIN: Final = SCHEMA.declare(
    MessageType(
        "raft.join",
        (Field("node_id", STR), Field("raft_id", INT), Field("addr", STR)),
        reply="raft.join.reply",
        doc="Add the calling manager (its CURVE key is its Raft server key) as a learner.",
    )
)
