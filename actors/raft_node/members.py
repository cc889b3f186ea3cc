"""The RaftNode's peer table: the members' addresses, and the keys their frames must come
with (senders.py). Owned by the loop thread.

It follows applied configuration changes: an ``ADD_LEARNER`` carries the new member's
address and key in its context (`peers.encode_peer_context`), a ``REMOVE`` drops it; the
network (``set_peer``/``remove_peer``, optional methods) follows the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.raft_node.core import RaftCore
from actors.raft_node.peers import Peer, decode_peer_context, encode_peer_context
from actors.raft_node.ready import decode_conf_change
from actors.raft_node.senders import member_key_refusal
from actors.raft_node.types import ConfChange, ConfChangeType, ConfState

__all__ = ["PeerTable"]


class PeerTable:
    def __init__(self, node_id: int, addrs: dict[int, str], network: Any) -> None:
        self._id = node_id
        self._addrs = addrs
        self._network = network
        # the CURVE key a member's frames must come with; networks that cannot say refuse
        # every frame that comes with a key
        self.member_key: Callable[[int], bytes | None] = getattr(
            network, "server_key", lambda _id: None
        )

    def addr(self, node_id: int) -> str:
        return self._addrs.get(node_id, "")

    def sender_key(self, src: int, conf: ConfState) -> bytes | None:
        """Member ``src``'s key, looked up (and resolved: a store scan) only for a member of
        the configuration or an id the table already holds, so forged ids cost nothing."""
        if src in conf.voters or src in conf.learners or src in self._addrs:
            return self.member_key(src)
        return None

    def add_member(self, core: RaftCore, peer: Peer) -> int:
        """Leader, on the loop: propose ``peer`` as a learner (the index of the change), or
        0 if it is a member already (its address is refreshed; ValueError when it comes
        with another key than the member's: senders.py)."""
        conf = core.conf_state
        if peer.id in conf.voters or peer.id in conf.learners:
            refusal = member_key_refusal(peer.id, self.member_key(peer.id), peer.server_key)
            if refusal is not None:
                raise ValueError(refusal)
            self._set(peer)
            return 0
        change = ConfChange(ConfChangeType.ADD_LEARNER, peer.id, encode_peer_context(peer))
        return core.propose_conf_change(change)

    def follow(self, data: bytes) -> int | None:
        """Keep the table in step with an applied configuration change (its entry's data);
        the id of another member it removes, if it does."""
        change = decode_conf_change(data)
        if change.node_id == self._id:
            return None
        if change.type is ConfChangeType.REMOVE:
            self._addrs.pop(change.node_id, None)
            remove = getattr(self._network, "remove_peer", None)
            if remove is not None:
                remove(change.node_id)
            return change.node_id
        peer = decode_peer_context(change.node_id, change.context)
        if peer is not None:
            self._set(peer)
        return None

    def _set(self, peer: Peer) -> None:
        self._addrs[peer.id] = peer.addr
        set_peer = getattr(self._network, "set_peer", None)
        if set_peer is not None:
            set_peer(peer)
