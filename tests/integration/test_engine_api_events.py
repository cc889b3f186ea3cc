"""``docker events`` through the Engine API when the history it asks for is gone: a
manager restarted from a Raft snapshot holds the cluster's changes from the snapshot on,
so events since a time before it cannot be shown whole. The CLI must say so (an error
answer), not print an empty line and succeed."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.engine_cli import DockerCli, engine_flags
from tests.support.swarm import Swarm
from tests.support.waiting import wait_for


def test_events_from_before_the_history_held_are_refused_in_words(tmp_path: Path) -> None:
    sock = tmp_path / "engine.sock"
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", executor="process", extra=engine_flags(sock))
        node.wait_ready()
        wait_for(sock.exists, "the Engine API socket")
        docker = DockerCli(sock, cwd=tmp_path)
        docker.ok("swarm", "update", "--snapshot-interval", "1")  # snapshot every entry
        since = f"{time.time():.3f}"
        docker.ok("secret", "create", "before", "-", input="x")
        node.terminate()
        node.start()
        node.wait_ready()
        wait_for(sock.exists, "the Engine API socket")
        result = docker.run("events", "--since", since, "--until", f"{time.time():.3f}")
        assert result.returncode != 0, (result.stdout, result.stderr)
        assert "are gone" in result.stderr, result.stderr
        assert result.stdout.strip() == ""
        # from now on the history is held: the stream works
        now = f"{time.time():.3f}"
        docker.ok("secret", "create", "after", "-", input="y")
        shown = docker.ok("events", "--since", now, "--until", f"{time.time() + 0.5:.3f}")
        assert "secret create" in shown and "name=after" in shown, shown
