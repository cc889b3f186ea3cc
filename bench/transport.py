"""Transport benchmark: request/reply throughput and latency, with and without CURVE.

Prints one JSON document. The server runs in a separate process (this script with
``--serve``); clients run as threads here, each with its own `Client`, each sending one
request at a time (a 100-byte echo). "curve" is tcp:// with CURVE and ZAP, the clients'
keys admitted as members (as nodes with certificates); "plain" is the ipc:// transport
without CURVE (as the control socket). Each run is bounded both in requests and in time;
``--smoke`` runs a few hundred requests of each kind.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.schema.declare import BYTES, INT, Field, MessageType  # noqa: E402
from api.schema.registry import register  # noqa: E402
from transport import AllowList, Client, Endpoint, KeyPair, Request, generate_keypair  # noqa: E402

register(
    MessageType("bench.echo", (Field("n", INT), Field("pad", BYTES)), reply="bench.echo.reply")
)
register(MessageType("bench.echo.reply", (Field("n", INT), Field("pad", BYTES))))

MAX_REQUESTS = 20_000  # per run, across all clients
MAX_SECONDS = 4.0  # per run
WARMUP = 200  # per client, not measured
PAD = b"x" * 100


CLIENT_KEYS = [generate_keypair() for _ in range(16)]


def serve(bind: str, members: list[str]) -> None:
    def echo(request: Request) -> Mapping[str, Any]:
        return request.body

    keypair = generate_keypair() if bind.startswith("tcp://") else None
    admission = AllowList(key.encode() for key in members)
    endpoint = Endpoint(bind, {"bench.echo": echo}, keypair=keypair, admission=admission)
    address = endpoint.start()
    public = keypair.public.decode() if keypair else None
    print(json.dumps({"address": address, "public_key": public}), flush=True)
    sys.stdin.read()
    endpoint.stop()


def start_server(bind: str) -> tuple[subprocess.Popen[str], str, bytes | None]:
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            bind,
            # --member=KEY: a Z85 key may begin with "-"
            *[f"--member={kp.public.decode()}" for kp in CLIENT_KEYS],
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    hello = json.loads(proc.stdout.readline())
    key = hello["public_key"].encode() if hello["public_key"] else None
    return proc, hello["address"], key


def run(address: str, server_key: bytes | None, clients: int, max_requests: int) -> dict[str, Any]:
    per_client = max_requests // clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    deadline: list[float] = [0.0]

    def work(i: int) -> None:
        keys: KeyPair | None = CLIENT_KEYS[i] if server_key is not None else None
        with Client(address, server_key=server_key, keypair=keys, timeout=10.0) as client:
            for n in range(min(WARMUP, per_client)):
                client.request("bench.echo", {"n": n, "pad": PAD})
            barrier.wait()
            mine = latencies[i]
            for n in range(per_client):
                t0 = time.perf_counter()
                client.request("bench.echo", {"n": n, "pad": PAD})
                t1 = time.perf_counter()
                mine.append(t1 - t0)
                if t1 > deadline[0]:
                    break

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + MAX_SECONDS + 60  # until the barrier opens
    barrier.wait()
    start = time.perf_counter()
    deadline[0] = start + MAX_SECONDS
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    everything = sorted(x for lat in latencies for x in lat)
    q = statistics.quantiles(everything, n=100)
    return {
        "clients": clients,
        "requests": len(everything),
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(everything) / elapsed),
        "p50_ms": round(q[49] * 1000, 3),
        "p99_ms": round(q[98] * 1000, 3),
    }


def quiet_logs() -> None:
    """Warnings and errors to stderr, so stdout holds only the JSON document."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def main() -> None:
    quiet_logs()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", metavar="BIND")
    parser.add_argument("--member", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="a few hundred requests each")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.member)
        return
    max_requests = 400 if args.smoke else MAX_REQUESTS
    results: dict[str, Any] = {
        "benchmark": "transport.request_reply",
        "payload_bytes": len(PAD),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "smoke": args.smoke,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="sn-bench-") as tmp:
        for mode, bind in (("curve", "tcp://127.0.0.1:0"), ("plain", f"ipc://{tmp}/bench.sock")):
            proc, address, key = start_server(bind)
            try:
                for clients in (1, 16):
                    run_result = run(address, key, clients, max_requests)
                    results["runs"].append({"mode": mode, **run_result})
            finally:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(timeout=10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
