"""The CURVE key pair file: written durably by actors.keypair_file, read by transport.keys."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any
from unittest import mock

from actors.keypair_file import write_keypair
from transport.keys import generate_keypair, read_keypair


def test_a_written_key_pair_reads_back_with_mode_0600(tmp_path: Path) -> None:
    keys = generate_keypair()
    path = tmp_path / "curve.key"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_keypair(path, keys)
    assert read_keypair(path) == keys
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.key"]


def test_the_key_file_is_durable_every_byte_then_the_directory(tmp_path: Path) -> None:
    # transport.keys wrote with one os.write and never fsynced the directory
    real_write, real_fsync = os.write, os.fsync
    synced: list[str] = []

    def short(fd: int, data: Any) -> int:
        return real_write(fd, bytes(data)[:7])

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    keys = generate_keypair()
    with (
        mock.patch("actors.durable.os.write", side_effect=short),
        mock.patch("actors.durable.os.fsync", side_effect=fsync),
    ):
        write_keypair(tmp_path / "curve.key", keys)
    assert read_keypair(tmp_path / "curve.key") == keys
    assert synced == ["file", "dir"]
