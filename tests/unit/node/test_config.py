"""What a node is told to be: the addresses it binds and advertises (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.node.config import MAX_IPC_PATH, NodeConfig, NodeError, advertised_address
from cli.node_main import build_parser, config_from_args


def config(listen: str = "127.0.0.1:4242", control: str = "/tmp/s.sock") -> NodeConfig:
    return NodeConfig(
        state_dir=Path("/tmp/state"),
        hostname="h1",
        listen_remote_api=listen,
        listen_control_api=Path(control),
        advertise_addr="127.0.0.1:4242",
    )


@pytest.mark.parametrize(
    ("listen", "bind"),
    [
        ("127.0.0.1:4242", "tcp://127.0.0.1:4242"),
        ("0.0.0.0:0", "tcp://0.0.0.0:0"),  # port 0: the OS picks one
        ("::1:4242", "tcp://[::1]:4242"),
        ("[::]:4242", "tcp://[::]:4242"),
    ],
)
def test_the_remote_bind_address(listen: str, bind: str) -> None:
    assert config(listen).remote_bind == bind


@pytest.mark.parametrize("listen", ["4242", ":4242", "host:", "host:http", "host:65536"])
def test_a_bad_listen_address_names_the_flag(listen: str) -> None:
    with pytest.raises(NodeError, match="--listen-remote-api wants HOST:PORT"):
        _ = config(listen).remote_bind


def test_the_control_socket_binds_as_ipc_and_refuses_a_path_too_long() -> None:
    assert config(control="/tmp/s.sock").control_bind == "ipc:///tmp/s.sock"
    with pytest.raises(NodeError, match="too long for a unix socket"):
        _ = config(control="/tmp/" + "x" * MAX_IPC_PATH).control_bind


@pytest.mark.parametrize(
    ("listen", "advertise", "seen"),
    [
        ("10.0.0.5:4242", "", "10.0.0.5:4242"),
        ("0.0.0.0:4242", "", "127.0.0.1:4242"),  # a wildcard: loopback
        ("*:4242", "", "127.0.0.1:4242"),
        ("[::]:4242", "", "[::1]:4242"),
        ("0.0.0.0:4242", "node1.example:5000", "node1.example:5000"),
    ],
)
def test_the_advertised_address(listen: str, advertise: str, seen: str) -> None:
    assert advertised_address(listen, advertise) == seen


@pytest.mark.parametrize(
    ("listen", "advertise", "flag"),
    [
        ("0.0.0.0:0", "", "--listen-remote-api"),  # nobody can reach port 0
        ("host", "", "--listen-remote-api"),
        ("0.0.0.0:4242", "node1.example", "--advertise-addr"),
        ("0.0.0.0:4242", "node1.example:99999", "--advertise-addr"),
    ],
)
def test_an_address_others_cannot_reach_names_the_flag(
    listen: str, advertise: str, flag: str
) -> None:
    with pytest.raises(NodeError, match=f"{flag} wants HOST:PORT with a port"):
        advertised_address(listen, advertise)


def test_the_mesh_address_is_an_ip_every_ipv4_address_by_default(tmp_path: Path) -> None:
    def config(*flags: str) -> NodeConfig:
        argv = ["--state-dir", str(tmp_path), "--hostname", "n1", *flags]
        return config_from_args(build_parser().parse_args(argv))

    assert config().mesh_addr == "0.0.0.0"
    assert config("--mesh-addr", "127.0.0.7").mesh_addr == "127.0.0.7"
    assert config("--mesh-addr", "[::1]").mesh_addr == "::1"
    with pytest.raises(ValueError, match="--mesh-addr wants an IP address, got 'node-1'"):
        config("--mesh-addr", "node-1")
