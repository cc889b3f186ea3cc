"""Whose Raft messages a frame may carry: a manager speaks only as its own Raft member
(DESIGN.md §7).

Rules:
- A ``raft.messages`` frame names its sender (``from``). It is accepted only when ``from``
  is the Raft id of the member whose CURVE key sent the frame: the key the peer table
  holds for that id. The table's keys are certificate keys: a member's ``ADD_LEARNER``
  context carries the key the leader saw ask ``raft.join`` (authorized as that node's
  manager certificate), and the node assembly resolves the others from the managers it
  knows (each entry's key read from the node's certificate).
- A frame that claims this node's own id, or an id the table does not know, is refused.
- Every message inside must come from ``from`` too: the core trusts ``Message.src``.
- A refused frame is dropped whole and counted (Raft tolerates lost frames); the shell
  logs it, at most once a second.
- A raft id may not be re-announced under another key (``raft.join`` of a member).
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.raft_node.types import Message

__all__ = ["frame_refusal", "member_key_refusal", "stray_message"]


def frame_refusal(
    claimed: int, own_id: int, sender_key: bytes, member_key: bytes | None
) -> str | None:
    """None when a frame claiming to be from ``claimed``, sent with ``sender_key``, may be
    unpacked (``member_key``: the key the peer table holds for ``claimed``); else why not.
    Checked before unpacking, so a refused frame costs no decoding."""
    if claimed == own_id:
        return f"the frame claims this node's own Raft id {claimed}"
    if member_key is None:
        return f"Raft id {claimed} is no member this node knows"
    if member_key != sender_key:
        return f"Raft id {claimed} belongs to another key"
    return None


def stray_message(claimed: int, messages: Iterable[Message]) -> str | None:
    """None when every message of a frame from ``claimed`` is from ``claimed``."""
    for m in messages:
        if m.src != claimed:
            return f"a message inside claims Raft id {m.src}, the frame {claimed}"
    return None


def member_key_refusal(raft_id: int, known_key: bytes | None, key: bytes) -> str | None:
    """None when member ``raft_id`` may be announced with ``key`` (``known_key``: the key
    the peer table holds for it, None if none)."""
    if known_key is not None and known_key != key:
        return f"Raft id {raft_id} is another member's"
    return None
