"""A follower's way to the leader's log broker: ``logs.subscribe`` and ``logs.read`` sent to
the leader's remote endpoint, as this manager (its CURVE key pair: the leader's
authorization lets managers only).

Rules:
- The leader is the one this manager's Raft member knows (``leader()``: its Raft id, 0
  when none is known), reached at the address and server key the manager directory has
  for it. One client per leader, kept while the leader stays; a new leader gets a new one.
- Calls are asynchronous (``call`` returns a future) so a waiting read holds no thread.
- Without a known leader, or one the directory cannot place, a call fails at once with
  ``RelayUnavailable``; a leader that does not answer fails it with the client's
  ``RequestTimeout``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from actors.raft_node.peers import Peer
from transport.client import Client
from transport.keys import KeyPair

__all__ = ["LeaderRelay", "RelayUnavailable"]


class RelayUnavailable(Exception):
    """No leader to relay to (an election is under way, or it is unknown here)."""


class LeaderRelay:
    def __init__(
        self,
        leader: Callable[[], int],
        resolve_peer: Callable[[int], Peer | None],
        keypair: KeyPair,
        *,
        source: str | None = None,
    ) -> None:
        self._leader = leader
        self._resolve = resolve_peer
        self._keypair = keypair
        self._source = source
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._peer: Peer | None = None
        self._closed = False

    def call(
        self, message_type: str, body: Mapping[str, Any], timeout: float
    ) -> Future[dict[str, Any]]:
        return self._client_for_leader().request_async(message_type, body, timeout=timeout)

    def _client_for_leader(self) -> Client:
        leader_id = self._leader()
        if not leader_id:
            raise RelayUnavailable("no leader is known (an election is under way?)")
        peer = self._resolve(leader_id)
        if peer is None:
            raise RelayUnavailable(f"the leader (Raft member {leader_id}) has no known address")
        with self._lock:
            if self._closed:
                raise RelayUnavailable("this manager is stopping")
            if self._client is not None and self._peer == peer:
                return self._client
            old, self._client, self._peer = self._client, None, None
            if old is not None:
                old.close()
            self._client = Client(
                peer.addr,
                server_key=peer.server_key,
                keypair=self._keypair,
                name=f"logs-relay-{leader_id}",
                source=self._source,
            )
            self._peer = peer
            return self._client

    def close(self) -> None:
        """Close the connection; later calls fail with ``RelayUnavailable``."""
        with self._lock:
            self._closed = True
            client, self._client, self._peer = self._client, None, None
        if client is not None:
            client.close()
