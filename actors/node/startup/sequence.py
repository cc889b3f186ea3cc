"""The start-up sequence a node runs before its tree (actors/node/runner.py calls it on
`run`'s thread, and again for the keys of a promotion).

Rules, in order:
- A removal of the manager state that a crash cut short is finished first
  (actors/node/startup/state_dir.py), before anything reads the state dir.
- A join token for another cluster is refused first, before a locked manager's unlock.
- The key store is opened (unlocked) first: a manager's private keys may be in it. A
  locked manager serves only ``swarmctl unlock`` (and ``leave --force``) until unlocked,
  and accepts a right key only while every port a manager binds is free; a stop meanwhile
  raises `StoppedWhileLocked`.
- Then the node's place in the cluster (init, join or resume: `prepare_node`), and the
  node id is bound to every log event from here on. A stop while a join waits for the
  manager (before ``ca.join``) raises `StopRequested` (actors/ca/join.py).
- A manager's keys at rest (``--force-new-cluster`` rewrites its Raft group first);
  ``--autolock`` counts only at init. A worker hands a key store left by its demotion
  back to its files, and ignores ``--autolock`` and ``--force-new-cluster`` (logged).
- A manager certificate without a key store is a promotion or a Raft rejoin that a
  crash cut short before its new key store (actors/node/runner.py), when there is no
  Raft log either: whatever manager state is left goes, and it goes on as a promotion
  (`promoted_keys`; its tree then joins Raft under a new Raft id). With a Raft log, the
  key store that encrypts it is lost: the start is refused, saying what to do
  (`NodeKeysError`), never turned into a rejoin that drops the log.
- The executor: ``--executor`` or the default (logged with the reason). ``--process-user``
  is checked whatever the executor (given with another one it is refused:
  `ProcessUserRefused`, a usage error); the process sandbox is made only for the
  process executor. The directories it creates (its ``$TMPDIR/swarmnode-<uid>`` base and
  the node's work root, where missing: `new_sandbox_dirs`) go again if the start then
  fails (`remove_new_dirs`), as long as they are empty.
- A promotion opens a new key store (a new data key, unlocked: the cluster's autolock
  setting rewraps it once the store holds the Cluster object).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from actors import log
from actors.ca.node_certs import node_certs_exist
from actors.node.config import NodeConfig
from actors.node.startup.at_rest import (
    AtRest,
    StoppedWhileLocked,
    hand_over_to_worker,
    open_at_rest,
    prepare_at_rest,
)
from actors.node.startup.keys import KEYSTORE_DIR, RAFT_DIR, NodeKeysError
from actors.node.startup.listeners import check_listeners, node_listeners
from actors.node.startup.security import (
    InitialCluster,
    NodeStartup,
    prepare_node,
    refuse_foreign_join,
)
from actors.node.startup.state_dir import (
    finish_manager_state_removal,
    load_or_create_raft_id,
    remove_manager_state,
)
from actors.node.tree.endpoints import software_version
from actors.worker.executors import default_executor_kind
from actors.worker.executors.process_policy import choose_process_user
from actors.worker.executors.process_sandbox import (
    ProcessSandbox,
    default_work_root,
    prepare_sandbox,
)
from api.enums import NodeRole
from transport.source import source_host

__all__ = [
    "choose_executor",
    "manager_keys",
    "new_sandbox_dirs",
    "open_node",
    "process_sandbox",
    "promoted_keys",
    "remove_new_dirs",
    "resume_promotion",
]

_log = log.get_logger("node")


def open_node(
    config: NodeConfig,
    *,
    stop: threading.Event,
    leave_while_locked: Callable[[], list[str]],
) -> tuple[NodeStartup, AtRest | None]:
    """The key store, the node's place in the cluster and a manager's keys at rest (the
    module's rules); ``leave_while_locked`` serves ``leave --force`` on a locked manager."""
    state_dir = config.state_dir
    joining = bool(config.join_addr)
    finish_manager_state_removal(state_dir)  # never opens a half-deleted key store
    # a token for another cluster is refused now, not after a locked manager's unlock
    refuse_foreign_join(state_dir, config.join_token)
    # a manager's private keys may be in its key store: open (unlock) it first
    keys = open_at_rest(
        state_dir,
        config.listen_control_api,
        autolock=config.autolock and not joining,
        init=not node_certs_exist(state_dir) and not joining,
        stop=stop,
        version={"version": software_version()},
        # only a manager holds a key store, locked or not
        preflight=lambda: check_listeners(node_listeners(config, NodeRole.MANAGER)),
        leave=leave_while_locked,
    )
    startup = prepare_node(
        state_dir,
        hostname=config.hostname,
        advertise_addr=config.advertise_addr,
        join_addr=config.join_addr,
        join_token=config.join_token,
        keys=keys,
        source=source_host(config.listen_remote_api),
        stop=stop,
    )
    log.set_node_id(startup.identity.node_id)
    at_rest: AtRest | None = None
    if startup.role is NodeRole.MANAGER and startup.keys is None:
        promoted = resume_promotion(config, startup, stop)
        if promoted is None:
            raise StoppedWhileLocked()
        startup, at_rest = promoted
    elif startup.role is NodeRole.MANAGER:  # every manager has a Raft log
        at_rest = manager_keys(config, startup)
    else:
        if startup.keys is not None:  # demoted before its worker start removed the store
            hand_over_to_worker(state_dir, startup.keys)
        for flag in ("autolock", "force_new_cluster"):
            if getattr(config, flag):
                _log.warning("node.flag.ignored", flag=flag, reason="not a manager")
    return startup, at_rest


def manager_keys(config: NodeConfig, startup: NodeStartup) -> AtRest:
    """A manager's keys at rest (actors/node/startup/at_rest.py), already opened (and
    unlocked) or created by `open_at_rest` and `prepare_node`; a joined manager's keys
    follow the cluster's autolock once its store holds the Cluster object."""
    if config.autolock and startup.mode == "join":
        _log.warning("node.autolock.ignored", reason="only at init: use swarmctl cluster update")
    if startup.keys is None:
        raise NodeKeysError(f"the manager in {config.state_dir} has no key store")
    raft_id = load_or_create_raft_id(config.state_dir) if config.force_new_cluster else None
    return prepare_at_rest(
        config.state_dir,
        startup.keys,
        init=startup.mode == "init",
        force_new_cluster_id=raft_id,
    )


def resume_promotion(
    config: NodeConfig, startup: NodeStartup, stop: threading.Event
) -> tuple[NodeStartup, AtRest] | None:
    """A manager certificate without a key store (the module's rules): a promotion's
    keys (`promoted_keys`) when there is no Raft log, else `NodeKeysError`."""
    state_dir = config.state_dir
    raft_dir, keystore = state_dir / RAFT_DIR, state_dir / KEYSTORE_DIR
    if raft_dir.exists():
        raise NodeKeysError(
            f"the manager in {state_dir} has a Raft log ({raft_dir}) but no key store "
            f"({keystore}) to decrypt it: restore the key store, or remove {raft_dir} to "
            "have this node join the Raft group again as a new member (what only its log "
            "holds is then lost)"
        )
    # a Raft id, bootstrap voters, an old init file: a founder's would found a new group
    left = remove_manager_state(state_dir)
    _log.warning(
        "node.manager.keys_missing",
        action="a new key store; joins the Raft group as a new member",
        removed_manager_state=left,
    )
    return promoted_keys(config, replace(startup, initial_cluster=InitialCluster(None, None)), stop)


def choose_executor(configured: str | None) -> str:
    """``--executor``, or the default kind for this machine (logged with the reason)."""
    executor = configured
    if executor is None:
        executor = default_executor_kind()
        _log.info("node.executor.chosen", executor=executor, reason="default")
    else:
        _log.info("node.executor.chosen", executor=executor, reason="--executor")
    return executor


def process_sandbox(config: NodeConfig, executor: str, node_id: str) -> ProcessSandbox | None:
    """Where and as whom process tasks run (None for another executor); raises
    `ProcessUserRefused` (a usage error) or `ProcessSandboxError`."""
    user = choose_process_user(config.process_user, euid=os.geteuid(), executor=executor)
    if executor != "process":
        return None
    sandbox = prepare_sandbox(user, state_dir=config.state_dir, node_id=node_id)
    _log.info(
        "node.process.sandbox",
        user=sandbox.user.name if sandbox.user is not None else None,
        work_root=str(sandbox.work_root),
    )
    return sandbox


def new_sandbox_dirs(executor: str, node_id: str) -> tuple[Path, ...]:
    """The directories `process_sandbox` is about to create: the default work root and its
    base, those missing, outermost first (none for another executor)."""
    if executor != "process":
        return ()
    root = default_work_root(node_id)
    return tuple(level for level in (root.parent, root) if not level.exists())


def remove_new_dirs(created: tuple[Path, ...]) -> None:
    """After a failed start: remove what it created, innermost first, each only while
    empty (another node's work root in the shared base keeps the base)."""
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir()


def promoted_keys(
    config: NodeConfig, startup: NodeStartup, stop: threading.Event
) -> tuple[NodeStartup, AtRest] | None:
    """A promotion: a new key store (unlocked; the cluster's autolock setting rewraps
    it once the store holds the Cluster object). None: stopped meanwhile."""
    state_dir = config.state_dir
    try:
        keys = open_at_rest(
            state_dir,
            config.listen_control_api,
            autolock=False,
            init=True,
            stop=stop,
            version={"version": software_version()},
        )
    except StoppedWhileLocked:
        return None
    if keys is None:
        raise NodeKeysError(f"no key store was created in {state_dir}")
    promoted = replace(startup, keys=keys)
    return promoted, prepare_at_rest(state_dir, keys, init=False, force_new_cluster_id=None)
