"""The node's own files in its state dir: one process at a time, the Raft id and voters
written durably, the identity created once, a worker's manager state removed. Real files,
real flock, real fsync."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from actors.ca.node_identity import IdentityError
from actors.node.config import NodeError
from actors.node.startup.state_dir import (
    BOOTSTRAP_FILE,
    RAFT_ID_FILE,
    StateDirLock,
    check_control_socket_free,
    load_or_create_identity,
    load_or_create_raft_id,
    read_bootstrap_voters,
    remove_manager_state,
    write_bootstrap_voters,
)


def test_one_process_at_a_time_holds_the_state_dir(tmp_path: Path) -> None:
    with StateDirLock(tmp_path):
        assert stat.S_IMODE((tmp_path / "lock").stat().st_mode) == 0o600
        with pytest.raises(NodeError, match="in use by another swarm-node"):
            StateDirLock(tmp_path).acquire()
    with StateDirLock(tmp_path):  # released on leaving the block
        pass


def test_the_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), StateDirLock(tmp_path):
        raise RuntimeError("start-up failed")
    StateDirLock(tmp_path).acquire()


def test_the_raft_id_is_created_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create_raft_id(tmp_path)
    assert 0 < first < 2**63
    assert load_or_create_raft_id(tmp_path) == first
    assert stat.S_IMODE((tmp_path / RAFT_ID_FILE).stat().st_mode) == 0o600


def test_the_raft_id_is_durable_file_then_directory(tmp_path: Path) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    with mock.patch("actors.durable.os.fsync", side_effect=fsync):
        load_or_create_raft_id(tmp_path)
    assert synced == ["file", "dir"]  # the rename reaches the disk too


def test_a_missing_raft_id_beside_raft_data_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "raft").mkdir()
    with pytest.raises(IdentityError, match="raft_id is missing"):
        load_or_create_raft_id(tmp_path)


@pytest.mark.parametrize("text", ["", "abc", "0", str(2**63), "-5"])
def test_a_damaged_raft_id_is_an_error(tmp_path: Path, text: str) -> None:
    (tmp_path / RAFT_ID_FILE).write_text(text)
    with pytest.raises(IdentityError, match="not hold a valid Raft id"):
        load_or_create_raft_id(tmp_path)


def test_the_bootstrap_voters_round_trip_and_damage_is_an_error(tmp_path: Path) -> None:
    assert read_bootstrap_voters(tmp_path) is None
    write_bootstrap_voters(tmp_path, (7, 9))
    assert read_bootstrap_voters(tmp_path) == (7, 9)
    (tmp_path / BOOTSTRAP_FILE).write_text('{"not": "a list"}')
    with pytest.raises(IdentityError, match="list of Raft ids"):
        read_bootstrap_voters(tmp_path)


def test_the_identity_is_created_once_node_id_last(tmp_path: Path) -> None:
    written: list[str] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        written.append(Path(dst).name)
        real_replace(src, dst)

    state = tmp_path / "state"
    with mock.patch("os.replace", side_effect=replace):
        created = load_or_create_identity(state)
    assert written[-1] == "node_id"  # the node id marks a whole identity
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert load_or_create_identity(state) == created


def test_a_key_file_lost_after_the_node_id_is_an_error_not_a_new_identity(tmp_path: Path) -> None:
    load_or_create_identity(tmp_path)
    (tmp_path / "keys" / "curve.key").unlink()
    with pytest.raises(IdentityError, match=r"curve\.key is missing"):
        load_or_create_identity(tmp_path)


def test_a_worker_start_removes_the_manager_state(tmp_path: Path) -> None:
    load_or_create_raft_id(tmp_path)
    (tmp_path / "raft").mkdir()
    (tmp_path / "raft" / "wal-0").write_bytes(b"x")
    (tmp_path / "keystore").mkdir()
    write_bootstrap_voters(tmp_path, (1,))
    (tmp_path / "node_id").write_text("kept")
    assert remove_manager_state(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node_id"]
    assert not remove_manager_state(tmp_path)  # nothing left to remove


def test_a_stale_control_socket_is_cleared_and_a_live_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    check_control_socket_free(path)  # nothing there
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # bound, never listening: a node that did not stop cleanly
    check_control_socket_free(path)
    assert not path.exists()
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(path))
    live.listen()
    try:
        with pytest.raises(NodeError, match="another process is listening"):
            check_control_socket_free(path)
    finally:
        live.close()
