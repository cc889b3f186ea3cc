"""``docker events`` through the Engine API when the history it asks for is gone: a
manager restarted from a Raft snapshot holds the cluster's changes from the snapshot on,
so events since a time before it cannot be shown whole. As Docker's daemon (whose event
log is bounded too), it shows what it holds of them and succeeds; swarmctl's watch
refuses such a time instead (tests/unit/events/test_streams.py)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.engine_cli import DockerCli, start_engine_manager
from tests.support.swarm import Swarm
from tests.support.waiting import wait_for


def test_events_from_before_the_history_held_show_what_is_held(tmp_path: Path) -> None:
    sock = tmp_path / "engine.sock"
    with Swarm(tmp_path) as swarm:
        node = start_engine_manager(swarm, sock, executor="process")
        docker = DockerCli(sock, cwd=tmp_path)
        docker.ok("swarm", "update", "--snapshot-interval", "1")  # snapshot every entry
        since = f"{time.time():.3f}"
        docker.ok("secret", "create", "before", "-", input="x")
        node.terminate()
        node.start()
        node.wait_ready()
        wait_for(sock.exists, "the Engine API socket")
        docker.ok("secret", "create", "after", "-", input="y")
        shown = docker.ok("events", "--since", since, "--until", f"{time.time() + 0.5:.3f}")
        assert "secret create" in shown and "name=after" in shown, shown
        assert "name=before" not in shown, shown


def test_an_until_alone_shows_the_events_held_up_to_then(tmp_path: Path) -> None:
    """``docker events --until T`` without ``--since``: dockerd shows the events it holds
    up to T and exits; ours showed nothing, watching from now on (already past T)."""
    sock = tmp_path / "engine.sock"
    with Swarm(tmp_path) as swarm:
        start_engine_manager(swarm, sock, executor="process")
        docker = DockerCli(sock, cwd=tmp_path)
        docker.ok("secret", "create", "earlier", "-", input="x")
        shown = docker.ok("events", "--until", f"{time.time():.3f}", "--filter", "type=secret")
        assert "secret create" in shown and "name=earlier" in shown, shown
