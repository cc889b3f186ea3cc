"""Who the managers are, as one node knows them: the list its agent, its Raft peer table,
the CA's join replies and the dispatcher's sessions start from.

A manager's list is this manager first (with the certificate it uses now: the one it
started with is stale once renewed, and of a retired root after a root rotation, so a
node joining or promoted that seeds its admission with it would refuse this manager's
Raft messages), then every manager Node in the store that has an
address (``manager_status.addr``) and a certificate (which binds its CURVE server key);
until the store holds any (first start of a joined manager, before Raft has caught up),
the managers of its join reply. A worker's list is the one its join reply gave (kept in
STATE_DIR/managers.json, actors/node/startup/security.py). Entries are `manager_entry` maps:
``addr`` (tcp://), ``server_key``, ``raft_id``, ``certificate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actors.ca.certs import CertificateError, read_node_certificate
from actors.dispatcher import ManagerAddress
from actors.node.startup.security import manager_entry
from actors.raft_node.peers import Peer
from actors.store import MemoryStore, nodes
from api.enums import NodeRole

__all__ = ["ManagerDirectory", "local_address"]

_KEY_CACHE_LIMIT = 256


def local_address(address: str) -> str:
    """``address`` with a wildcard host replaced by loopback (for this node's own agent)."""
    for wildcard, loopback in (("//0.0.0.0:", "//127.0.0.1:"), ("//[::]:", "//[::1]:")):
        address = address.replace(wildcard, loopback)
    return address


def _peer(raft_id: int, entry: Mapping[str, Any]) -> Peer:
    return Peer(raft_id, str(entry["addr"]), str(entry["server_key"]).encode("ascii"))


class ManagerDirectory:
    def __init__(
        self,
        store: MemoryStore | None,
        seeds: Sequence[Mapping[str, str]],
        *,
        own: Mapping[str, Any] | None = None,
        own_node_id: str = "",
        own_certificate: Callable[[], bytes] | None = None,
    ) -> None:
        """``store``/``own``: on a manager (None on a worker); ``seeds``: the join reply's;
        ``own_certificate``: the certificate this manager uses now (PEM), for its entry."""
        self._store = store
        self._seeds = [dict(m) for m in seeds]
        self._own = dict(own) if own is not None else None
        self._own_node_id = own_node_id
        self._own_certificate = own_certificate
        self._cert_keys: dict[bytes, bytes] = {}

    def set_seeds(self, seeds: Sequence[Mapping[str, Any]]) -> None:
        """Replace the seed list (a worker: the list its session sent)."""
        self._seeds = [dict(m) for m in seeds if m.get("addr") and m.get("server_key")]

    def add_seeds(self, seeds: Sequence[Mapping[str, Any]]) -> None:
        """Put ``seeds`` (a ``raft.join`` reply's managers: with Raft ids) first, keeping
        the entries it does not name (by server key)."""
        fresh = [
            {str(k): str(v) for k, v in m.items()}
            for m in seeds
            if m.get("addr") and m.get("server_key")
        ]
        keys = {m["server_key"] for m in fresh}
        self._seeds = fresh + [m for m in self._seeds if str(m.get("server_key")) not in keys]

    def _server_key(self, certificate: bytes) -> bytes:
        key = self._cert_keys.get(certificate)
        if key is None:
            key = read_node_certificate(certificate).curve_public_key
            if len(self._cert_keys) > _KEY_CACHE_LIMIT:
                self._cert_keys.clear()
            self._cert_keys[certificate] = key
        return key

    def entries(self) -> list[dict[str, Any]]:
        """Every manager this node knows of (see the module docstring)."""
        if self._store is None or self._own is None:
            return [dict(m) for m in self._seeds]
        own = dict(self._own)
        if self._own_certificate is not None:
            own["certificate"] = self._own_certificate().decode("ascii")
        entries = [own]
        for n in self._store.view(nodes.list_all):
            ms = n.manager_status
            if n.role is not NodeRole.MANAGER or ms is None or not ms.addr or not n.certificate:
                continue
            if n.id == self._own_node_id:
                continue
            try:
                key = self._server_key(n.certificate)
            except (CertificateError, ValueError):
                continue
            entries.append(manager_entry(f"tcp://{ms.addr}", key, ms.raft_id, n.certificate))
        if len(entries) == 1:
            entries += [dict(m) for m in self._seeds if m["addr"] != own["addr"]]
        return entries

    def addresses(self) -> tuple[ManagerAddress, ...]:
        """For the agent and the dispatcher's sessions."""
        return tuple(
            ManagerAddress(local_address(m["addr"]), str(m["server_key"]).encode("ascii"))
            for m in self.entries()
        )

    def resolve_peer(self, raft_id: int) -> Peer | None:
        """The Raft peer ``raft_id``, if a manager entry names it."""
        for m in self.entries():
            if m.get("raft_id") == str(raft_id):
                return _peer(raft_id, m)
        return None

    def raft_peers(self) -> dict[int, Peer]:
        """Every manager entry that names its Raft id, as Raft peers."""
        peers = {}
        for m in self.entries():
            raft_id = int(m.get("raft_id") or 0)
            if raft_id:
                peers[raft_id] = _peer(raft_id, m)
        return peers
