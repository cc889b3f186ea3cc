"""Flood: a manager's control socket and memory under a stranger's flood (issue 8, item 2).

    python bench/flood.py [--seconds 10] [--rounds 5] [--smoke]

One manager (a real ``swarm-node`` process, ``--executor process``,
tests/support/swarm.py). Without a flood and under one, for ``--seconds`` each in all, it
answers ``version`` requests on its control socket, one every 20 ms, over one connection
(what ``swarmctl version`` sends; the transport client, so no process start-up is timed).
The phases alternate in ``--rounds`` rounds, so that the load of whatever else runs on
the machine weighs on both alike. The flood (tests/support/flood.py, in a process of its
own) sends from fresh CURVE keys with no certificate and no token, on the remote API and
on the join-hello port alike, 2 connections each of frames of empty msgpack maps just
within the remote API's frame cap (8 MiB) and 1 connection of 60 KiB frames of the same
(within a stranger's frame size, over its lengths), as fast as ZeroMQ takes them; the
manager closes a stranger's connection past 32 frames and turns away its handshakes past
its rate (transport/stranger_rates.py), and the flood's ZeroMQ connects again.

Prints one JSON document: for each phase the latency (p50, p99, max, in ms) and the
manager's peak RSS (``VmHWM``, MiB; the flood's figure is the peak of the whole run), the
frames the flood sent and the refusals the manager logged, and the ratios the issue sets:
p50 under the flood within about twice the p50 without it, peak RSS under 300 MiB.
Refusals are counted from the manager's log, whose lines each stand for the refusals since
the one before (at most one a second per reason), so the last second's may be missing.
``--smoke``: one round of 2 seconds each.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py

from tests.support.flood import FloodProcess, peak_rss_bytes, probe_version  # noqa: E402
from tests.support.swarm import Swarm, SwarmNode  # noqa: E402

AIM = {"latency_ratio_p50": 2.0, "peak_rss_mib": 300}
WARMUP = 10
INTERVAL = 0.02
MIB = 1024 * 1024


def latency_figures(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    return {
        "calls": len(ms),
        "p50_ms": round(q[49], 3),
        "p99_ms": round(q[98], 3),
        "max_ms": round(ms[-1], 3),
    }


def refusals(node: SwarmNode) -> dict[str, int]:
    """Frames the manager logged as refused, by endpoint, trust and code (each log line
    carries how many it stands for)."""
    totals: dict[str, int] = {}
    for event in node.log_events():
        name = event.get("event")
        if name in ("transport.frame.rejected", "transport.request.busy"):
            key = f"{event.get('endpoint')}.{event.get('trust')}.{event.get('code')}"
        elif name == "transport.peer.disconnected" and event.get("endpoint") != "control":
            # a peer over the socket's ZMQ_MAXMSGSIZE (the hello port: 4 KiB) is dropped
            key = f"{event.get('endpoint')}.disconnected"
        elif name in ("transport.stranger.refused", "transport.stranger.closed"):
            # handshakes turned away, connections closed (transport/connections.py)
            key = f"{event.get('endpoint')}.{name.rsplit('.', 1)[1]}.{event.get('code')}"
        else:
            continue
        totals[key] = totals.get(key, 0) + int(event.get("count", 1))
    return dict(sorted(totals.items()))


def peak_rss_mib(node: SwarmNode) -> float:
    assert node.process is not None
    return round(peak_rss_bytes(node.process.pid) / MIB, 1)


def run(seconds: float, rounds: int) -> dict[str, Any]:
    quiet: list[float] = []
    flooded: list[float] = []
    quiet_rss = 0.0
    sent: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="sn-flood-") as tmp, Swarm(Path(tmp)) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        probe_version(node.socket, WARMUP)
        for _ in range(rounds):
            quiet += probe_version(node.socket, 1, seconds=seconds / rounds, interval=INTERVAL)
            quiet_rss = quiet_rss or peak_rss_mib(node)  # before the first flood
            with FloodProcess(node.remote_api, node.state_dir) as flood:
                flood.wait_sending()
                flooded += probe_version(
                    node.socket, 1, seconds=seconds / rounds, interval=INTERVAL
                )
                for target, frames in flood.stop().items():
                    sent[target] = sent.get(target, 0) + frames
        node.wait_ready()  # still a healthy leader with its own worker
        quiet_figures = {**latency_figures(quiet), "peak_rss_mib": quiet_rss}
        flood_figures = {
            **latency_figures(flooded),
            "peak_rss_mib": peak_rss_mib(node),
            "frames_sent": sent,
            "refused": refusals(node),
        }
    return compare(quiet_figures, flood_figures)


def compare(quiet: dict[str, Any], flooded: dict[str, Any]) -> dict[str, Any]:
    ratio = flooded["p50_ms"] / quiet["p50_ms"] if quiet["p50_ms"] else None
    return {
        "without_flood": quiet,
        "under_flood": flooded,
        "latency_ratio_p50": round(ratio, 2) if ratio is not None else None,
        "latency_ratio_p99": round(flooded["p99_ms"] / quiet["p99_ms"], 2),
        "aim": AIM,
        "within_aim": (
            ratio is not None
            and ratio <= AIM["latency_ratio_p50"]
            and flooded["peak_rss_mib"] < AIM["peak_rss_mib"]
        ),
    }


def main() -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase, in all")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the phases")
    parser.add_argument("--smoke", action="store_true", help="one round of 2 seconds each")
    args = parser.parse_args()
    seconds, rounds = (2.0, 1) if args.smoke else (args.seconds, args.rounds)
    result = {
        "benchmark": "flood.control_socket",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "smoke": args.smoke,
        "seconds_per_phase": seconds,
        "rounds": rounds,
        **run(seconds, rounds),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
