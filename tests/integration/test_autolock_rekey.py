"""Autolock protects the past too: a copy of a manager's state dir taken before autolock
is switched on (or before the unlock key is rotated) holds a data key that opens nothing
written after. Real ``swarm-node`` and ``swarmctl`` processes and real files; every wait is
a ``poll`` with a deadline.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.ca.encryption import UnlockKey, parse_unlock_key
from actors.ca.keystore import DATA_KEY, RETIRING_DATA_KEYS, KeyStore
from actors.node.startup.keys import KEYSTORE_DIR
from tests.integration.test_autolock import (
    assert_unreadable,
    create_service,
    restart,
    unlock,
    unlock_key,
    wait_locked,
)
from tests.support.at_rest import decryptable_by, files_under
from tests.support.swarm import Swarm, SwarmNode, poll

LATER = "okapi-after-rotation"
LATER_ENV = "QUILLWORT_93fe"
ROTATED = "node.keys.data_key.rotated"


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


class Copy:
    """What a thief copied from a manager's state dir: its data key and its files."""

    def __init__(self, node: SwarmNode, unlock: UnlockKey | None, into: Path) -> None:
        for path in files_under(node.state_dir):  # the node runs: files come and go
            target = into / path.relative_to(node.state_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(path, target)
        self.data_key = KeyStore(into / KEYSTORE_DIR).load(unlock)[DATA_KEY]
        self.raft_files = {p.name for p in (into / "raft").iterdir()}
        assert decryptable_by(self.data_key, into), f"{node.name}: nothing under its key"


def rotations(node: SwarmNode) -> int:
    return sum(1 for e in node.log_events() if e.get("event") == ROTATED)


def assert_past_key_opens_nothing(node: SwarmNode, copy: Copy, key: str) -> None:
    """The copy's data key decrypts no file of the node's state dir, its Raft files are
    gone, and the current key (under the unlock key) reads the entries written after."""
    state = node.state_dir
    assert decryptable_by(copy.data_key, state) == [], f"{node.name}: the old key opens files"
    for path in files_under(state):
        assert copy.data_key not in path.read_bytes(), f"{path} holds the old data key"
    assert not copy.raft_files & {p.name for p in (state / "raft").iterdir()} - {"LOCK"}
    secrets = KeyStore(state / KEYSTORE_DIR).load(parse_unlock_key(key))
    assert RETIRING_DATA_KEYS not in secrets and secrets[DATA_KEY] != copy.data_key
    plain = b"".join(text for _, text in decryptable_by(secrets[DATA_KEY], state))
    markers = {"service": LATER.encode(), "env": LATER_ENV.encode()}
    markers["unlock key"] = parse_unlock_key(key).key
    for what, marker in markers.items():
        assert marker in plain, f"{node.name}: the {what} is not in its log"


def test_switching_autolock_on_rotates_every_managers_data_key(
    swarm: Swarm, tmp_path: Path
) -> None:
    first = swarm.start_node("m1")
    first.wait_ready()
    second = swarm.join("m2", first, first.join_token("manager"))
    swarm.wait_cluster(2, 0)
    create_service(first)
    copies = {n.name: Copy(n, None, tmp_path / f"copy-{n.name}") for n in (first, second)}
    on = first.ctl("cluster", "update", "--autolock=true")
    assert on.returncode == 0, on.stderr
    key = unlock_key(first)
    for node in (first, second):
        poll(lambda node=node: rotations(node) == 1, f"{node.name}: data key rotated")
    create_service(first, LATER, LATER_ENV, replicas=1)
    poll(lambda: LATER in [s["name"] for s in second.ctl_json("service", "ls")], "m2: it")
    for node in (second, first):
        assert node.terminate() == 0
    for node in (first, second):
        assert_past_key_opens_nothing(node, copies[node.name], key)
        assert_unreadable(node, key)
    # the cluster restarts and unlocks with the key its data key is now wrapped under
    for node in (first, second):
        node.start(wait=False)
    for node in (first, second):
        wait_locked(node)
        assert unlock(node, key).returncode == 0
        node.wait_started()
    poll(lambda: len(first.running(LATER)) == 1, f"{LATER}: running after unlock")


def test_rotating_the_unlock_key_rotates_the_data_key(swarm: Swarm, tmp_path: Path) -> None:
    node = swarm.start_node("m1", extra=("--autolock",))
    node.wait_ready()
    create_service(node)
    old_key = unlock_key(node)
    copy = Copy(node, parse_unlock_key(old_key), tmp_path / "copy")
    assert rotations(node) == 0  # the key made at init wraps the data key made with it
    new_key = unlock_key(node, "--rotate")
    assert new_key != old_key
    poll(lambda: rotations(node) == 1, "data key rotated")
    create_service(node, LATER, LATER_ENV, replicas=1)
    restart(node)
    wait_locked(node)
    assert_past_key_opens_nothing(node, copy, new_key)
    stale = unlock(node, old_key)
    assert stale.returncode != 0 and stale.stderr.strip() == "swarmctl: invalid unlock key"
    assert unlock(node, new_key).returncode == 0
    node.wait_started()
    node.wait_ready()
    poll(lambda: len(node.running(LATER)) == 1, f"{LATER}: running after unlock")
    assert unlock_key(node) == new_key
