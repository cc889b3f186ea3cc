"""swarm-node and swarmctl as real processes: identity, control socket, signals, errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.ctl import PLANNED_GROUPS
from tests.support.swarm import free_port_pair
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 20.0
GROUPS = ("cluster", "node", "service", "task", "events", "unlock")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def swarmctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.ctl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env={**os.environ, **(env or {})},
    )


@dataclass
class RunningNode:
    process: subprocess.Popen[bytes]
    state_dir: Path
    socket: Path
    log_path: Path

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events

    def version(self) -> dict[str, Any]:
        result = swarmctl("--socket", str(self.socket), "version", "--format", "json")
        assert result.returncode == 0, result.stderr
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=DEADLINE)


class NodeLauncher:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[RunningNode] = []

    def start(self, state_dir: Path, *extra: str, wait: bool = True) -> RunningNode:
        sock = state_dir / "swarm.sock"
        log_path = self.tmp_path / f"node-{len(self.started)}.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cli.node_main",
                    "--state-dir",
                    str(state_dir),
                    "--listen-remote-api",
                    f"127.0.0.1:{free_port_pair()}",  # the join-hello endpoint takes port + 1
                    "--log-format",
                    "json",
                    *extra,
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
        node = RunningNode(process, state_dir, sock, log_path)
        self.started.append(node)
        if wait:
            wait_for(
                lambda: (
                    process.poll() is not None
                    or any(e.get("event") == "node.started" for e in node.log_events())
                ),
                "node.started",
                DEADLINE,
            )
            assert process.poll() is None, log_path.read_text()
        return node

    def cleanup(self) -> None:
        for node in self.started:
            if node.process.poll() is None:
                node.process.kill()
                node.process.wait(timeout=DEADLINE)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[NodeLauncher]:
    launcher = NodeLauncher(tmp_path)
    yield launcher
    launcher.cleanup()


def test_version_answers_with_the_node_id(nodes: NodeLauncher, tmp_path: Path) -> None:
    node = nodes.start(tmp_path / "state")
    document = node.version()
    node_id = (node.state_dir / "node_id").read_text().strip()
    assert set(document) == {"client", "server"}
    assert set(document["server"]) == {"node_id", "role", "version"}
    assert document["server"]["node_id"] == node_id
    assert document["server"]["role"] == "manager"
    assert document["client"]["version"] == document["server"]["version"]

    started = next(e for e in node.log_events() if e["event"] == "node.started")
    assert started["node_id"] == node_id and started["subsystem"] == "node"
    assert started["control_api"].endswith("swarm.sock")

    table = swarmctl("--socket", str(node.socket), "version")
    assert table.returncode == 0, table.stderr
    assert "Client:" in table.stdout and node_id in table.stdout


def test_socket_and_state_files_are_private(nodes: NodeLauncher, tmp_path: Path) -> None:
    node = nodes.start(tmp_path / "state")
    assert stat.S_ISSOCK(node.socket.stat().st_mode)
    assert mode(node.socket) == 0o600
    assert mode(node.state_dir) == 0o700
    assert mode(node.state_dir / "keys" / "curve.key") == 0o600
    assert mode(node.state_dir / "node_id") == 0o600


def test_restart_with_the_same_state_dir_keeps_id_and_keys(
    nodes: NodeLauncher, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = nodes.start(state)
    first_id = first.version()["server"]["node_id"]
    key_file = state / "keys" / "curve.key"
    keys = key_file.read_bytes()
    assert first.terminate() == 0

    second = nodes.start(state)
    assert second.version()["server"]["node_id"] == first_id
    assert key_file.read_bytes() == keys
    assert mode(key_file) == 0o600
    assert mode(second.socket) == 0o600


def test_sigterm_and_sigint_stop_cleanly(nodes: NodeLauncher, tmp_path: Path) -> None:
    node = nodes.start(tmp_path / "state")
    assert node.terminate() == 0
    assert not node.socket.exists()
    events = [e["event"] for e in node.log_events()]
    assert "node.stopping" in events and events[-1] == "node.stopped"
    stops = [e["child"] for e in node.log_events() if e["event"] == "supervisor.child.stopped"]
    # the event streams before the control socket that carries their final frames, the
    # TCP endpoints (bound before the control socket appears), the Raft node last
    assert stops[-5:] == ["events", "control", "hello", "remote", "raft"]
    # Reverse of start order: the certificate renewer, the log publisher, then the agent
    # before the worker it drives.
    assert stops[:4] == ["renewer", "logs", "agent", "worker"]

    again = nodes.start(tmp_path / "state")
    again.process.send_signal(signal.SIGINT)
    assert again.process.wait(timeout=DEADLINE) == 0


def test_a_second_node_on_the_same_state_dir_is_refused(
    nodes: NodeLauncher, tmp_path: Path
) -> None:
    nodes.start(tmp_path / "state")
    second = nodes.start(tmp_path / "state", wait=False)
    assert second.process.wait(timeout=DEADLINE) == 1
    assert "in use by another swarm-node" in second.log_path.read_text()


def test_swarmctl_without_a_socket_prints_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.sock"
    result = swarmctl("--socket", str(missing), "version")
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"swarmctl: no socket at {missing} (is swarm-node running?)"
    ]
    via_env = swarmctl("version", env={"SWARM_SOCKET": str(missing)})
    assert via_env.returncode != 0 and str(missing) in via_env.stderr


def test_swarmctl_against_a_dead_socket_prints_one_line(tmp_path: Path) -> None:
    dead = tmp_path / "dead.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(dead))
    listener.close()  # the file stays, nobody listens
    result = swarmctl("--socket", str(dead), "version", "--format", "json")
    assert result.returncode != 0
    assert result.stderr.splitlines() == [f"swarmctl: no node answering on {dead}"]
    assert result.stdout == ""


def test_swarmctl_help_lists_the_command_groups() -> None:
    result = swarmctl("--help")
    assert result.returncode == 0
    for group in ("version", *GROUPS):
        assert group in result.stdout
    for group in PLANNED_GROUPS:
        planned = swarmctl(group, "--format", "json")
        assert planned.returncode != 0
        assert planned.stderr.splitlines() == [f"swarmctl: '{group}' is not implemented yet"]


def test_usage_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    bad = swarmctl("version", "--format", "yaml")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    node = subprocess.run(
        [sys.executable, "-m", "cli.node_main", "--no-such-flag"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert node.returncode == 2 and len(node.stderr.splitlines()) == 1
    join = subprocess.run(
        [sys.executable, "-m", "cli.node_main", "--join-addr", "10.0.0.1:4242"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert join.returncode == 2
    assert join.stderr.splitlines() == ["swarm-node: --join-addr and --join-token go together"]


def test_a_taken_port_fails_the_start_with_exit_1(nodes: NodeLauncher, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        node = nodes.start(
            tmp_path / "state", "--listen-remote-api", f"127.0.0.1:{port}", wait=False
        )
        assert node.process.wait(timeout=DEADLINE) == 1
    failed = [e for e in node.log_events() if e["event"] == "node.start.failed"]
    assert failed and failed[0]["error"] == (
        f"the remote API (--listen-remote-api) cannot listen on 127.0.0.1:{port}: "
        "the address is in use (another process listens on it)"
    )
    assert not node.socket.exists()


def test_bin_wrappers_run_from_the_checkout() -> None:
    result = subprocess.run(
        [str(ROOT / "bin" / "swarmctl"), "--help"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd="/",
    )
    assert result.returncode == 0 and "unlock" in result.stdout
    node = subprocess.run(
        [str(ROOT / "bin" / "swarm-node"), "--help"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd="/",
    )
    assert node.returncode == 0 and "--listen-control-api" in node.stdout


def test_a_corrupt_identity_is_a_clear_error(nodes: NodeLauncher, tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert nodes.start(state).terminate() == 0
    (state / "node_id").write_text("not an id\n")
    broken = nodes.start(state, wait=False)
    assert broken.process.wait(timeout=DEADLINE) == 1
    assert f"swarm-node: {state / 'node_id'} does not hold a valid node id" in (
        broken.log_path.read_text()
    )

    (state / "node_id").write_text("0" * 25 + "\n")
    (state / "keys" / "curve.key").write_bytes(b"garbage\n")
    garbled = nodes.start(state, wait=False)
    assert garbled.process.wait(timeout=DEADLINE) == 1
    assert "does not hold a valid CURVE key pair" in garbled.log_path.read_text()


def test_remote_endpoint_speaks_curve_with_the_node_key(
    nodes: NodeLauncher, tmp_path: Path
) -> None:
    from api.errors import RemoteError
    from transport.client import Client
    from transport.keys import generate_keypair, read_keypair

    node = nodes.start(tmp_path / "state")
    started = next(e for e in node.log_events() if e["event"] == "node.started")
    node_keys = read_keypair(node.state_dir / "keys" / "curve.key")
    assert started["public_key"] == node_keys.public.decode()
    address = started["remote_api"]

    with Client(address, server_key=node_keys.public, keypair=node_keys, timeout=5.0) as admitted:
        reply = admitted.request("version")
    assert reply["node_id"] == node.version()["server"]["node_id"]

    # an unknown key passes ZAP (it may join) but may send nothing that needs a certificate
    with (
        Client(
            address, server_key=node_keys.public, keypair=generate_keypair(), timeout=5.0
        ) as stranger,
        pytest.raises(RemoteError) as refused,
    ):
        stranger.request("version")
    assert refused.value.code == "unauthorized"


def test_a_state_dir_of_another_cluster_is_refused_before_its_unlock(
    nodes: NodeLauncher, tmp_path: Path
) -> None:
    """A state dir that holds a (locked) manager of cluster A, started with cluster B's join
    token: refused at once naming the state dir, not resumed in A (the join was ignored
    with a log line) nor left waiting for an unlock."""
    ours, theirs = tmp_path / "a", tmp_path / "b"
    nodes.start(ours, "--autolock").terminate()
    other = nodes.start(theirs)
    token = swarmctl("--socket", str(other.socket), "cluster", "join-token", "-q", "worker")
    assert token.returncode == 0, token.stderr
    again = nodes.start(
        ours, "--join-addr", "127.0.0.1:1", "--join-token", token.stdout.strip(), wait=False
    )
    assert again.process.wait(timeout=DEADLINE) == 1
    message = again.log_path.read_text().splitlines()[-1]
    assert message.startswith(f"swarm-node: cannot join the cluster: the state dir {ours} ")
    assert "another cluster" in message and "new --state-dir" in message
