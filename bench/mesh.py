"""The routing mesh: connections and bytes through a published ingress port, against the
engine's own port publishing of the same containers, measured in the same run.

    python bench/mesh.py [--seconds 5] [--clients 16] [--smoke]

One real ``swarm-node`` (``--executor docker``) runs a service of ``--replicas`` (2) busybox
``httpd`` tasks, published with ``-p PORT:80`` (ingress, the default). Each task also
publishes port 80 on a port the engine picks (its ``port_status``): the mesh forwards to
those, and the reference connects to one of them directly, through the engine's own
publishing (docker-proxy or its NAT rules). Both sides serve the same files from the same
containers, read by the same client, so the ratio is the mesh's own cost.

Measures, each for ``--seconds`` through the mesh and then directly:
- ``connections_per_s``: ``--clients`` threads, each a new TCP connection per request
  (HTTP/1.0 GET of a 30-byte page) for as long as the phase lasts;
- ``one_connection_p50_ms``: one client, one request at a time;
- ``bulk_mb_per_s``: 2 clients downloading a 4 MiB file over and over.

Docker's swarm mode would be the reference for a routing mesh, but on this engine a port
published with ``docker service create -p`` gets no answer (its ingress needs IPVS, which
this kernel does not offer): the bench probes it once (``--swarm-probe``) and reports what
it saw. ``--smoke``: 1 second per phase, 4 clients, no probe. Prints one JSON document;
everything it started is removed in ``finally``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py
sys.path.append(str(ROOT / "bench"))  # would shadow the transport package

from _common import machine, ratio, stop_on_sigterm  # noqa: E402
from _docker_swarm import docker_cli, swarm_mode, wait_for  # noqa: E402

from tests.support.ports import free_port  # noqa: E402
from tests.support.testimage import ensure_test_image  # noqa: E402

SERVICE = "meshbench"
BULK_BYTES = 4 * 1024 * 1024
# httpd serving a small page and a 4 MiB file on port 80
SERVE = (
    "mkdir -p /www && echo mesh bench $(hostname) > /www/index.html "
    f"&& head -c {BULK_BYTES} /dev/zero > /www/bulk && exec httpd -f -p 80 -h /www"
)


def log(message: str) -> None:
    print(f"[mesh] {message}", file=sys.stderr, flush=True)


def get(host: str, port: int, path: str, timeout: float = 5.0) -> int:
    """Bytes of the body of one HTTP/1.0 GET on a new connection; OSError on failure."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        received = bytearray()
        while True:
            chunk = conn.recv(256 * 1024)
            if not chunk:
                break
            received += chunk
    head, sep, body = bytes(received).partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0]:
        raise OSError(f"not a 200 reply: {head[:80]!r}")
    return len(body)


def hammer(clients: int, seconds: float, request: Callable[[], int]) -> tuple[int, int, int, float]:
    """(requests, bytes, failures, elapsed) of ``clients`` threads calling ``request``."""
    stop = time.monotonic() + seconds
    counts = [[0, 0, 0] for _ in range(clients)]

    def run(mine: list[int]) -> None:
        while time.monotonic() < stop:
            try:
                mine[1] += request()
                mine[0] += 1
            except OSError:
                mine[2] += 1

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in counts]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    elapsed = time.monotonic() - started
    return (
        sum(c[0] for c in counts),
        sum(c[1] for c in counts),
        sum(c[2] for c in counts),
        elapsed,
    )


def measure_path(host: str, port: int, seconds: float, clients: int) -> dict[str, Any]:
    requests, _, failed, elapsed = hammer(clients, seconds, lambda: get(host, port, "/"))
    latencies = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        began = time.perf_counter()
        get(host, port, "/")
        latencies.append(time.perf_counter() - began)
    _, moved, bulk_failed, bulk_elapsed = hammer(2, seconds, lambda: get(host, port, "/bulk"))
    return {
        "connections_per_s": round(requests / elapsed, 1),
        "connection_failures": failed,
        "one_connection_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "one_connection_requests": len(latencies),
        "bulk_mb_per_s": round(moved / bulk_elapsed / 1e6, 1),
        "bulk_failures": bulk_failed,
    }


def probe_swarm_mode(client: Any, image: str, port: int, wait: float) -> dict[str, Any]:
    """Whether a port published by Docker's swarm mode answers here at all."""
    with swarm_mode(client):
        docker_cli(
            "service", "create", "--detach", "--no-resolve-image", "--name", f"{SERVICE}-swarm",
            "-p", f"{port}:80", image, "sh", "-c", SERVE,
        )  # fmt: skip
        try:
            wait_for(
                lambda: (
                    "Running"
                    in docker_cli(
                        "service", "ps", "--format", "{{.CurrentState}}", f"{SERVICE}-swarm"
                    )
                ),
                "the swarm-mode task running",
                120,
                0.2,
            )
            try:
                body = wait_for(lambda: get("127.0.0.1", port, "/", 2.0), "an answer", wait, 0.5)
                return {"answers": True, "body_bytes": body}
            except Exception as exc:
                return {"answers": False, "seen": f"{type(exc).__name__}: {exc}"[:300]}
        finally:
            with contextlib.suppress(RuntimeError):
                docker_cli("service", "rm", f"{SERVICE}-swarm")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase and path")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--swarm-probe", type=float, default=15.0, metavar="S",
                        help="seconds to wait for swarm mode's port (0: skip)")  # fmt: skip
    parser.add_argument("--smoke", action="store_true", help="1 s phases, 4 clients, no probe")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.clients, args.swarm_probe = 1.0, 4, 0.0
    if args.seconds <= 0 or args.clients < 1 or args.replicas < 1:
        parser.error("--seconds, --clients and --replicas must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    import docker

    from cli.connection import ControlConnection
    from tests.support.swarm import Swarm

    args = parse_args(argv)
    stop_on_sigterm()
    client = docker.from_env()
    image = ensure_test_image(client)
    result: dict[str, Any] = {
        "bench": "mesh",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(client),
        "settings": {k: getattr(args, k) for k in ("seconds", "clients", "replicas", "smoke")},
    }
    with tempfile.TemporaryDirectory(prefix="mesh-bench-") as work:
        swarm = Swarm(Path(work), docker_client=client)
        try:
            node = swarm.start_node("bench", executor="docker")
            node.wait_ready(timeout=60)
            port = free_port()
            node.ctl_json(
                "service", "create", "--detach", "--name", SERVICE,
                "--replicas", str(args.replicas), "-p", f"{port}:80", image, "sh", "-c", SERVE,
            )  # fmt: skip
            with ControlConnection(node.socket, timeout=30) as connection:

                def backends() -> list[int]:
                    rows = connection.listing("control.service.ps", {"service": SERVICE})
                    return [
                        p["published_port"]
                        for t in rows["tasks"]
                        if t["state"] == "running"
                        for p in t["ports"]
                        if p["target_port"] == 80 and p["published_port"] != port
                    ]

                direct = wait_for(
                    lambda: (b := backends()) and len(b) >= args.replicas and b,
                    "every task running with its engine-published port",
                    120,
                    0.2,
                )
            wait_for(lambda: get("127.0.0.1", port, "/"), "the mesh answering", 60, 0.2)
            # A task is running once its container started; its httpd listens a moment
            # later, and the engine's proxy resets a connection it cannot pass on. Wait
            # until every backend answers, so both paths are measured warm.
            for host_port in direct:
                wait_for(
                    lambda host_port=host_port: get("127.0.0.1", host_port, "/"),
                    f"the backend on {host_port} answering",
                    60,
                    0.2,
                )
            log(f"mesh on {port}, direct on {direct[0]}")
            mesh = measure_path("127.0.0.1", port, args.seconds, args.clients)
            engine = measure_path("127.0.0.1", direct[0], args.seconds, args.clients)
            result["mesh"], result["engine_published_port"] = mesh, engine
            result["ratio_mesh_over_engine"] = {
                "connections_per_s": ratio(mesh["connections_per_s"], engine["connections_per_s"]),
                "one_connection_p50_ms": ratio(
                    mesh["one_connection_p50_ms"], engine["one_connection_p50_ms"]
                ),
                "bulk_mb_per_s": ratio(mesh["bulk_mb_per_s"], engine["bulk_mb_per_s"]),
            }
        finally:
            swarm.cleanup()
    if args.swarm_probe > 0:
        log("probing swarm mode's routing mesh")
        result["swarm_mode_ingress"] = probe_swarm_mode(
            client, image, free_port(), args.swarm_probe
        )
    result["ok"] = (
        result["mesh"]["connection_failures"] == 0 and result["mesh"]["bulk_failures"] == 0
    )
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
