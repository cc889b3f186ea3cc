"""A cluster of `raft_server` processes on 127.0.0.1, for integration tests and the bench.

Each member gets a free port from the OS, its own CURVE key pair (the allow-list is the
members' keys plus the harness client's), and its own DurableStorage directory under
`root`. Waits poll with a deadline; nothing here sleeps for synchronisation.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from actors.keypair_file import write_keypair
from api.errors import TransportError
from tests.support import (
    raft_server,  # noqa: F401  (declares the kv.* message types)
    waiting,
)
from tests.support.ports import free_port
from tests.support.waiting import any_error
from transport import Client, KeyPair, generate_keypair

__all__ = ["RaftCluster", "free_port", "wait_for"]

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(fn: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02) -> T:
    """`tests.support.waiting.wait_for` in the order the Raft actor tests call it (timeout
    before what), errors counting as "not yet". Only tests/unit/raft_actor still uses it
    (issue 9: they move to tests.support.waiting with the Raft split; then this goes)."""
    found = waiting.wait_for(fn, what, timeout, interval=interval, tolerate=any_error)
    assert found is not None
    return found


class RaftCluster:
    def __init__(
        self,
        root: Path,
        size: int,
        *,
        tick: float = 0.05,
        election_tick: int = 10,
        snapshot_interval: int = 10_000,
        keep_entries: int = 500,
    ) -> None:
        self.root = Path(root)
        self.ids = list(range(1, size + 1))
        self.client_keys = generate_keypair()
        self.keys: dict[int, KeyPair] = {i: generate_keypair() for i in self.ids}
        self.addrs = {i: f"tcp://127.0.0.1:{free_port()}" for i in self.ids}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._clients: dict[int, Client] = {}
        self._settings = {
            "tick": tick,
            "election_tick": election_tick,
            "snapshot_interval": snapshot_interval,
            "keep_entries": keep_entries,
        }
        self.root.mkdir(parents=True, exist_ok=True)
        for i in self.ids:
            keyfile = self.root / f"node{i}.key"
            write_keypair(keyfile, self.keys[i])
            config = {
                "id": i,
                "data_dir": str(self.data_dir(i)),
                "keyfile": str(keyfile),
                "peers": {
                    str(j): {"addr": self.addrs[j], "public_key": self.keys[j].public.decode()}
                    for j in self.ids
                },
                "allow": [self.client_keys.public.decode()],
                **self._settings,
            }
            (self.root / f"node{i}.json").write_text(json.dumps(config))

    def data_dir(self, node_id: int) -> Path:
        return self.root / f"data{node_id}"

    # -- processes -----------------------------------------------------------------------
    def start(self, ids: Iterable[int] | None = None) -> RaftCluster:
        for i in self.ids if ids is None else ids:
            log = open(self.root / f"node{i}.log", "ab")  # noqa: SIM115  (owned by the child)
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            self.procs[i] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.raft_server",
                    str(self.root / f"node{i}.json"),
                ],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
            log.close()
        return self

    def kill(self, node_id: int) -> None:
        """SIGKILL, and wait for the process to be gone."""
        proc = self.procs.pop(node_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        client = self._clients.pop(node_id, None)
        if client is not None:
            client.close()

    def restart(self, node_id: int) -> None:
        self.start([node_id])

    def stop(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()

    def __enter__(self) -> RaftCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, node_id: int, lines: int = 30) -> str:
        path = self.root / f"node{node_id}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- talking to members --------------------------------------------------------------
    def client(self, node_id: int, *, timeout: float = 5.0) -> Client:
        client = self._clients.get(node_id)
        if client is None:
            client = Client(
                self.addrs[node_id],
                server_key=self.keys[node_id].public,
                keypair=self.client_keys,
                timeout=timeout,
                name=f"test-to-{node_id}",
            )
            self._clients[node_id] = client
        return client

    def new_client(self, node_id: int, *, timeout: float = 5.0) -> Client:
        """A client the caller owns (and closes)."""
        return Client(
            self.addrs[node_id],
            server_key=self.keys[node_id].public,
            keypair=self.client_keys,
            timeout=timeout,
            name=f"test-own-{node_id}",
        )

    def status(self, node_id: int, timeout: float = 1.0) -> dict[str, Any] | None:
        try:
            return self.client(node_id).request("raft.status", timeout=timeout)
        except TransportError:
            return None

    def leader(self, among: Iterable[int] | None = None) -> int | None:
        """The leader a majority of the live members agree on, if that member says so."""
        live = [i for i in (among or self.procs) if i in self.procs]
        seen: dict[int, int] = {}
        for i in live:
            st = self.status(i, timeout=0.5)
            if st is not None and st["leader_id"]:
                seen[st["leader_id"]] = seen.get(st["leader_id"], 0) + 1
        for lead, votes in seen.items():
            if votes > len(self.ids) // 2 and lead in self.procs:
                st = self.status(lead, timeout=0.5)
                if st is not None and st["state"] == "leader":
                    return lead
        return None

    def wait_leader(self, timeout: float = 20.0, exclude: Iterable[int] = ()) -> int:
        excluded = set(exclude)

        def found() -> int | None:
            lead = self.leader()
            return lead if lead is not None and lead not in excluded else None

        return waiting.wait_for(found, "a leader", timeout, interval=0.02, tolerate=any_error)

    def put(self, node_id: int, key: str, value: str, timeout: float = 5.0) -> int:
        """Write through `node_id`; the acknowledged index, or an exception."""
        reply = self.client(node_id).request(
            "kv.put", {"key": key, "value": value}, timeout=timeout
        )
        if reply.get("error"):
            raise RuntimeError(f"kv.put {key} on {node_id}: {reply['error']}")
        return int(reply["index"])

    def get(self, node_id: int, key: str) -> dict[str, Any]:
        return self.client(node_id).request("kv.get", {"key": key})

    def dump(self, node_id: int) -> dict[str, Any]:
        return self.client(node_id).request("kv.dump")

    def wait_applied(self, node_id: int, index: int, timeout: float = 20.0) -> dict[str, Any]:
        def caught_up() -> dict[str, Any] | None:
            st = self.status(node_id, timeout=0.5)
            return st if st is not None and st["applied"] >= index else None

        return waiting.wait_for(
            caught_up,
            f"node {node_id} to apply {index}",
            timeout,
            interval=0.02,
            tolerate=any_error,
        )
