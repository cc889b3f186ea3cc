"""The fleet's node identities: each joined by token like any ``swarm-node`` worker.

``enlist(...)`` gives ``count`` members under ``root`` (one state dir each,
``root/NAME-00001`` ...). A dir that already holds a node certificate is resumed (its
certificate checked, its manager list read); any other joins the cluster with
`actors.ca.join.join_cluster` (the CA pinned by the token's digest, a fresh ECDSA key and
CURVE key pair, the certificate written 0600) and keeps the managers of the join reply in
``managers.json``, as a node does. Joins run ``parallel`` at a time (each on a thread that
ends with its join): a manager admits joiners one Raft write each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from actors.ca.join import join_cluster
from actors.ca.node_certs import load_node_certs, node_certs_exist
from actors.dispatcher.wire import ManagerAddress
from actors.log import get_logger
from actors.node.startup.security import read_managers, write_managers
from actors.node.tree.managers import local_address
from transport.keys import KeyPair

__all__ = ["FleetMember", "enlist", "manager_addresses"]

_log = get_logger("fleet")


@dataclass(frozen=True, slots=True)
class FleetMember:
    node_id: str
    hostname: str
    state_dir: Path
    keypair: KeyPair
    managers: tuple[ManagerAddress, ...]


def manager_addresses(entries: Sequence[Mapping[str, str]]) -> tuple[ManagerAddress, ...]:
    return tuple(
        ManagerAddress(local_address(str(m["addr"])), str(m["server_key"]).encode("ascii"))
        for m in entries
        if m.get("addr") and m.get("server_key")
    )


def _member(
    state_dir: Path,
    hostname: str,
    join_addr: str,
    token: str,
    timeout: float,
    clock: Callable[[], float],
) -> FleetMember:
    if node_certs_exist(state_dir):
        certs = load_node_certs(state_dir, now=clock())
        managers = manager_addresses(read_managers(state_dir))
        if not managers:
            raise RuntimeError(f"{state_dir}: no managers.json to resume from")
        return FleetMember(certs.node_id, hostname, state_dir, certs.keypair, managers)
    result = join_cluster(
        join_addr, token, state_dir=state_dir, hostname=hostname, timeout=timeout, clock=clock
    )
    write_managers(state_dir, result.managers)
    return FleetMember(
        result.node_id, hostname, state_dir, result.keypair, manager_addresses(result.managers)
    )


def enlist(
    root: Path,
    count: int,
    *,
    join_addr: str,
    token: str,
    name: str = "fleet",
    parallel: int = 8,
    timeout: float = 30.0,
    clock: Callable[[], float] = time.time,
) -> list[FleetMember]:
    """``count`` members under ``root``, joined (or resumed) ``parallel`` at a time; raises
    the first join's error (`actors.ca.join.JoinError`) if any fails."""
    if count < 1:
        raise ValueError(f"a fleet needs at least one node, not {count}")
    root = Path(root)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    names = [f"{name}-{i:05d}" for i in range(1, count + 1)]
    started = time.monotonic()
    with ThreadPoolExecutor(max(1, parallel), thread_name_prefix="fleet-join") as pool:
        futures = [
            pool.submit(_member, root / n, n, join_addr, token, timeout, clock) for n in names
        ]
        members = [f.result() for f in futures]
    _log.info("fleet.enlisted", nodes=count, seconds=round(time.monotonic() - started, 2))
    return members
