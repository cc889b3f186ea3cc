"""The node's own files in its state dir, beside what the CA keeps there
(actors/ca/node_identity.py, actors/ca/node_certs.py) and the key store
(actors/node/startup/keys.py):

    STATE_DIR/lock            held (flock) while a swarm-node runs on the state dir
    STATE_DIR/raft_id         a manager's Raft member id (a random 63-bit integer)
    STATE_DIR/raft_bootstrap  the group's bootstrap voters (JSON list of Raft ids)
    STATE_DIR/raft/           a manager's Raft log and snapshots
    STATE_DIR/manager_state.removing   while `remove_manager_state` runs

Rules:
- One process per state dir: `StateDirLock` (an exclusive ``flock``) is taken before
  anything is read or written and released once, when the node is done.
- Files are written durably (`actors.durable.write_durable`: every byte, fsync, rename,
  fsync of the directory), 0600, so the Raft id and the voters survive a crash.
- A Raft id is created once and never changes while the Raft data it names exists; a
  missing id beside existing Raft data is an error, not a new member.
- A worker keeps no manager state: `remove_manager_state` deletes it (a demoted manager's
  first start as a worker), so a later promotion joins Raft afresh under a new Raft id;
  so does a manager that rejoins Raft (actors/node/runner.py). Its callers have taken
  the node's private keys out of the key store first (`AtRest.release`).
- A removal is all or nothing across a crash: it writes `REMOVING_FILE` durably before
  it deletes anything and removes it last, and a start that finds it finishes the
  removal before it reads the state dir (`finish_manager_state_removal`). A half-deleted
  key store or Raft log is never opened.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import shutil
import socket
from pathlib import Path
from types import TracebackType
from typing import Final, TextIO

from actors.ca.node_identity import (
    KEYS_DIR,
    NODE_ID_FILE,
    IdentityError,
    KeyVault,
    NodeIdentity,
    ensure_private_dir,
    read_curve_keys,
    read_node_id,
    write_curve_keys,
)
from actors.durable import FILE_MODE, fsync_dir, write_durable
from actors.log import get_logger
from actors.node.config import NodeError
from actors.node.startup.keys import KEYSTORE_DIR, RAFT_DIR
from api.ids import new_id
from transport.keys import generate_keypair

__all__ = [
    "BOOTSTRAP_FILE",
    "INIT_FILE",
    "LOCK_FILE",
    "RAFT_DIR",
    "RAFT_ID_FILE",
    "REMOVING_FILE",
    "StateDirLock",
    "check_control_socket_free",
    "finish_manager_state_removal",
    "load_or_create_identity",
    "load_or_create_raft_id",
    "read_bootstrap_voters",
    "remove_manager_state",
    "write_bootstrap_voters",
]

LOCK_FILE: Final = "lock"
RAFT_ID_FILE: Final = "raft_id"
BOOTSTRAP_FILE: Final = "raft_bootstrap"
# the Cluster object of an older version's init, with the CA key (now in the key store:
# actors/node/startup/security.py `InitialCluster`)
INIT_FILE: Final = "cluster_init.json"
REMOVING_FILE: Final = "manager_state.removing"

_log = get_logger("node")


class StateDirLock:
    """An exclusive ``flock`` on STATE_DIR/lock, held while the node runs (a context
    manager: released on every way out of the block)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._file: TextIO | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # files under a state dir are 0600, an older lock file too
        handle = os.fdopen(fd, "a")  # held open for the process's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise NodeError(
                    f"state dir {self.path.parent} is in use by another swarm-node"
                ) from None
            raise NodeError(f"cannot lock {self.path}: {exc.strerror}") from exc
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> StateDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def check_control_socket_free(path: Path) -> None:
    """Refuse to take over a socket another live process answers on; clear a stale one."""
    if not path.exists() and not path.is_symlink():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        path.unlink(missing_ok=True)  # left behind by a node that did not stop cleanly
        return
    except OSError as exc:
        raise NodeError(f"cannot use control socket path {path}: {exc.strerror}") from exc
    finally:
        probe.close()
    raise NodeError(f"another process is listening on the control socket {path}")


def load_or_create_identity(state_dir: Path, vault: KeyVault | None = None) -> NodeIdentity:
    """The identity stored in ``state_dir`` (the CURVE secret in ``vault`` when it holds
    it), created on first use: the key pair first, the node id last, so the node id file
    marks a whole identity (actors/ca/node_identity.py)."""
    ensure_private_dir(state_dir)
    ensure_private_dir(state_dir / KEYS_DIR)
    if not (state_dir / NODE_ID_FILE).exists():
        keypair = generate_keypair()
        node_id = new_id()
        try:
            write_curve_keys(state_dir, keypair, vault)
            write_durable(state_dir / NODE_ID_FILE, (node_id + "\n").encode())
        except OSError as exc:
            raise IdentityError(f"cannot write identity in {state_dir}: {exc}") from exc
        _log.info("identity.created", node_id=node_id, public_key=keypair.public.decode())
        return NodeIdentity(node_id, keypair)
    node_id = read_node_id(state_dir)
    keypair = read_curve_keys(state_dir, vault)
    _log.info("identity.loaded", node_id=node_id, public_key=keypair.public.decode())
    return NodeIdentity(node_id, keypair)


def load_or_create_raft_id(state_dir: Path) -> int:
    """This node's Raft member id, created (durably) on a manager's first start."""
    path = state_dir / RAFT_ID_FILE
    if path.exists():
        text = path.read_text().strip()
        if not text.isdigit() or not 0 < int(text) < 2**63:
            raise IdentityError(f"{path} does not hold a valid Raft id")
        return int(text)
    if (state_dir / RAFT_DIR).exists():
        raise IdentityError(f"{path} is missing but {state_dir / RAFT_DIR} exists")
    raft_id = random.SystemRandom().randrange(1, 2**63)
    write_durable(path, f"{raft_id}\n".encode())
    return raft_id


def read_bootstrap_voters(state_dir: Path) -> tuple[int, ...] | None:
    """The group's bootstrap voters, if this node knows them yet."""
    path = state_dir / BOOTSTRAP_FILE
    if not path.exists():
        return None
    try:
        return tuple(int(v) for v in json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise IdentityError(f"{path} does not hold a list of Raft ids: {exc}") from None


def write_bootstrap_voters(state_dir: Path, voters: tuple[int, ...]) -> None:
    write_durable(state_dir / BOOTSTRAP_FILE, json.dumps(list(voters)).encode())


def remove_manager_state(state_dir: Path) -> bool:
    """Remove what only a manager keeps (Raft log and snapshots, the key store with the
    data key that encrypts them, the Raft id, the bootstrap voters, an older version's
    init file: it founds nothing now), all or nothing across a crash (the module's
    rules). True if anything was there."""
    dirs = [state_dir / name for name in (RAFT_DIR, KEYSTORE_DIR)]
    files = [state_dir / name for name in (BOOTSTRAP_FILE, RAFT_ID_FILE, INIT_FILE)]
    if not any(path.exists() for path in (*dirs, *files)):
        (state_dir / REMOVING_FILE).unlink(missing_ok=True)
        return False
    write_durable(state_dir / REMOVING_FILE, b"")
    for path in dirs:
        if path.exists():
            shutil.rmtree(path)
    for path in files:
        path.unlink(missing_ok=True)
    fsync_dir(state_dir)  # all gone on disk before the mark that says so
    (state_dir / REMOVING_FILE).unlink()
    fsync_dir(state_dir)
    return True


def finish_manager_state_removal(state_dir: Path) -> bool:
    """At a start, before anything reads the state dir: finish a `remove_manager_state`
    that a crash cut short. True if there was one."""
    if not (state_dir / REMOVING_FILE).exists():
        return False
    remove_manager_state(state_dir)
    _log.warning("node.manager_state.removed", reason="finishing a removal a crash cut short")
    return True
