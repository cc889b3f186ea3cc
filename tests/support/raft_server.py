"""One Raft member in its own process, bootstrapped from a static peer list.

    python -m tests.support.raft_server CONFIG.json

CONFIG: {"id", "data_dir", "peers": {id: {"addr", "public_key"}}, "keyfile",
"allow": [client public keys], "tick", "election_tick", "snapshot_interval",
"keep_entries"}. The member serves, on its one CURVE ROUTER, the RaftNode's handlers plus a
test surface over its MemoryStore (a key is a Node object whose label ``value`` holds the
value): ``kv.put``, ``kv.get``, ``kv.dump``, and ``raft.test.load`` (proposer threads in
this process, for bench/raft.py). Logs JSON lines on stderr; runs until SIGTERM/SIGKILL.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from actors.heap import tune_collector, tune_malloc
from actors.log import configure, set_node_id
from actors.raft_node.actor import RaftNode
from actors.raft_node.peers import Peer
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore
from actors.store.errors import NotLeader, StoreError
from actors.thread_switching import tune_switch_interval
from api.objects import Node, ObjectKind
from api.schema.declare import BOOL, FLOAT, INT, STR, Field, MapOf, MessageType
from api.schema.registry import register
from api.specs import NodeSpec
from transport import AllowList, Endpoint, Request, read_keypair

__all__ = ["KV_DUMP", "KV_GET", "KV_PUT", "LOAD", "main"]

KV_PUT_REPLY = register(
    MessageType(
        "kv.put.reply",
        (
            Field("index", INT),
            Field("error", STR, required=False),
            Field("leader_id", INT, required=False),
        ),
    )
)
KV_PUT = register(
    MessageType("kv.put", (Field("key", STR), Field("value", STR)), reply="kv.put.reply")
)
KV_GET_REPLY = register(
    MessageType("kv.get.reply", (Field("found", BOOL), Field("value", STR), Field("version", INT)))
)
KV_GET = register(MessageType("kv.get", (Field("key", STR),), reply="kv.get.reply"))
KV_DUMP_REPLY = register(
    MessageType("kv.dump.reply", (Field("items", MapOf(STR)), Field("version", INT)))
)
KV_DUMP = register(MessageType("kv.dump", reply="kv.dump.reply"))
LOAD_REPLY = register(
    MessageType(
        "raft.test.load.reply",
        (
            Field("count", INT),
            Field("errors", INT),
            Field("elapsed", FLOAT),
            Field("p50", FLOAT),
            Field("p99", FLOAT),
        ),
    )
)
LOAD = register(
    MessageType(
        "raft.test.load",
        (Field("concurrency", INT), Field("seconds", FLOAT), Field("size", INT)),
        reply="raft.test.load.reply",
    )
)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class KVSurface:
    def __init__(self, node: RaftNode, store: MemoryStore) -> None:
        self.node = node
        self.store = store

    def handlers(self) -> dict[str, Any]:
        return {
            "kv.put": self.put,
            "kv.get": self.get,
            "kv.dump": self.dump,
            "raft.test.load": self.load,
        }

    def put(self, request: Request) -> None:
        key, value = request.body["key"], request.body["value"]

        def write(tx: Any) -> None:
            current = tx.get(ObjectKind.NODE, key)
            if current is None:
                tx.create(Node(id=key, spec=NodeSpec(name=key, labels={"value": value})))
            else:
                tx.update(replace(current, spec=NodeSpec(name=key, labels={"value": value})))

        try:
            future = self.store.update_async(write)
        except StoreError as exc:
            request.reply({"index": 0, "error": str(exc)})
            return

        def done(f: Future[Any]) -> None:
            exc = f.exception()
            if exc is None:
                request.reply({"index": f.result().version})
            elif isinstance(exc, NotLeader):
                request.reply({"index": 0, "error": "not_leader", "leader_id": exc.leader_id or 0})
            else:
                request.reply({"index": 0, "error": f"{type(exc).__name__}: {exc}"[:300]})

        future.add_done_callback(done)

    def get(self, request: Request) -> Mapping[str, Any]:
        key = request.body["key"]
        with self.store.read() as tx:
            node = tx.get(ObjectKind.NODE, key)
            if node is None:
                return {"found": False, "value": "", "version": 0}
            return {"found": True, "value": node.spec.labels["value"], "version": node.meta.version}

    def dump(self, request: Request) -> Mapping[str, Any]:
        with self.store.read() as tx:
            items = {n.id: n.spec.labels.get("value", "") for n in tx.list_objects(ObjectKind.NODE)}
            return {"items": items, "version": tx.version}

    def load(self, request: Request) -> None:
        """Proposer threads in this process: raw `size`-byte entries through node.propose."""
        body = dict(request.body)
        threading.Thread(target=self._load, args=(request, body), daemon=True).start()

    def _load(self, request: Request, body: dict[str, Any]) -> None:
        n, seconds, size = body["concurrency"], body["seconds"], body["size"]
        deadline = time.perf_counter() + seconds
        latencies: list[list[float]] = [[] for _ in range(n)]
        errors = [0] * n
        payload = b"\xc4" + bytes([size - 2]) + b"v" * (size - 2)  # msgpack bin: store skips it

        def run(i: int) -> None:
            lat = latencies[i]
            propose = self.node.propose
            clock = time.perf_counter
            while True:
                t0 = clock()
                if t0 >= deadline:
                    return
                try:
                    propose(payload).result(10)
                except Exception:
                    errors[i] += 1
                    time.sleep(0.01)
                    continue
                lat.append(clock() - t0)

        start = time.perf_counter()
        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        flat = sorted(x for lat in latencies for x in lat)
        request.reply(
            {
                "count": len(flat),
                "errors": sum(errors),
                "elapsed": elapsed,
                "p50": percentile(flat, 0.5),
                "p99": percentile(flat, 0.99),
            }
        )


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    node_id = int(config["id"])
    set_node_id(str(node_id))
    configure("json", stream=sys.stderr)
    # as swarm-node does (cli/node_main.py): the same process settings
    tune_collector()
    tune_malloc()
    tune_switch_interval()
    keypair = read_keypair(config["keyfile"])
    peers = {
        int(pid): Peer(int(pid), p["addr"], p["public_key"].encode())
        for pid, p in config["peers"].items()
    }
    storage = DurableStorage.open(
        config["data_dir"],
        log_entries_for_slow_followers=int(config.get("keep_entries", 500)),
        initial_conf_state=ConfState(voters=tuple(sorted(peers))),
    )
    store = MemoryStore(clock=time.time)
    node = RaftNode(
        node_id,
        peers,
        storage,
        store,
        keypair=keypair,
        tick_interval=float(config.get("tick", 0.1)),
        election_tick=int(config.get("election_tick", 10)),
        snapshot_interval=int(config.get("snapshot_interval", 10_000)),
    )
    store.attach_proposer(node)
    surface = KVSurface(node, store)
    allow = AllowList(
        [p.server_key for p in peers.values()] + [k.encode() for k in config["allow"]]
    )
    endpoint = Endpoint(
        peers[node_id].addr,
        {**node.handlers(), **surface.handlers()},
        keypair=keypair,
        admission=allow,
        name="remote",
    )
    node.start()
    endpoint.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0) and node.failure is None:
        pass
    endpoint.stop()
    node.stop()
    return 0 if node.failure is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
