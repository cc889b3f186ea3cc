"""The parts of a node that the supervision tree (actors/node/tree/node.py) wires together.

One ``Assembly`` per node process holds what outlives any one child instance: the store
(rebuilt by Raft from the snapshot and the committed log when the raft child starts), the
current RaftNode, the leadership switch, the dispatcher's slot, the worker's status outbox,
this host's description and, on a manager, the CA service and the admission index. It
declares the children that are not endpoints:

    raft     RaftNodeActor: opens DurableStorage (STATE_DIR/raft; a one-member group when
             this node founded the cluster, empty when it joined), attaches itself to the
             store as its proposer, subscribes the leadership switch
    leader   the leader-only group (actors/node/tree/leader_group.py), started and stopped by Raft,
             plus the manager-status keeper (actors/node/membership/join.py)
    raftjoin RaftJoiner: asks the leader to add this manager to Raft until it is a member
    worker   Worker (state in STATE_DIR/worker) over the chosen executor
    agent    Agent: a CURVE session to a manager's dispatcher (its own first, on a manager)
    renewer  CertRenewer (actors/ca/renewer.py): renews this node's certificate through
             ``ca.renew`` on the managers it knows (every node; on a manager also early
             when its store says its role or the cluster's cert expiry changed)

A worker node (its certificate says worker) has only ``worker``, ``agent`` and ``renewer``
(and a control endpoint that answers ``version`` and refuses the rest, actors/node/tree/node.py): no
Raft, no store, no remote endpoint; its agent starts from the manager list in
STATE_DIR/managers.json (its join's, then what its sessions send: every node keeps that
file current, without itself) and follows the lists its sessions send. A worker's state
dir holds no Raft data: a demoted manager's is removed when it starts as a worker
(`remove_manager_state`), so a later promotion joins Raft afresh with a new Raft id.

Role changes: the agent passes the role each heartbeat reply names (the Node's role in the
leader's store) to ``session_role``, and tells the renewer to look again when it changed;
the renewer renews towards it (actors/node/membership/roles.py `renewal_role`); when a renewed
certificate's role differs from the role this assembly runs, ``on_role_change`` (set by
actors/node/runner.py) restarts the node's subsystems in the new role.

Security on a manager: the remote endpoint's ZAP policy is the CA-backed
``ClusterAdmission`` and every handler is wrapped by ``authorize`` (raft.* managers,
dispatcher.* any node, ca.join anyone); the index follows the store through the CA
service's watch (``start_security``).

and the handler tables the endpoints serve; each handler looks its subsystem up per
request (the endpoints copy their tables once, at start).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pykka

from actors.ca.authorization import ClusterAdmission, authorize
from actors.ca.certs import CertificateError
from actors.ca.join import hello_address
from actors.ca.keystore import write_private_file
from actors.ca.node_certs import NodeCertificates
from actors.ca.node_identity import FILE_MODE, IdentityError
from actors.ca.renewer import CHECK_NOW, CertRenewer, RenewalSettings, store_settings
from actors.ca.service import CAService
from actors.control import control_handlers
from actors.control.cluster import cluster_handlers
from actors.control.readiness import ReadinessGate, StartupState
from actors.control.unlock import unlock_handlers
from actors.dispatcher import ManagerAddress, dispatcher_handlers
from actors.log import get_logger
from actors.node.membership.join import RAFT_JOIN, JoinAsker, RaftJoiner, raft_join_handler
from actors.node.membership.keeper import MembershipKeeper
from actors.node.membership.roles import renewal_role, role_restart
from actors.node.startup.keys import KEYSTORE_DIR
from actors.node.startup.security import NodeStartup, manager_entry, read_managers, write_managers
from actors.node.tree.leader_group import (
    ActorSlot,
    LeadershipSwitch,
    RaftHolder,
    Registration,
    leader_child,
)
from actors.node.tree.managers import ManagerDirectory, local_address
from actors.periodic import PeriodicActor
from actors.raft_node.actor import RaftNode, RaftNodeActor
from actors.raft_node.peers import Peer
from actors.raft_node.storage import Cipher, DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore, clusters
from actors.supervisor import ChildContext, ChildSpec, Directory, start_actor
from actors.worker.agent import Agent, StatusOutbox
from actors.worker.executors import make_executor
from actors.worker.executors.process_sandbox import ProcessSandbox
from actors.worker.worker import Worker, WorkerSink
from api.enums import NodeRole
from api.objects import NodeDescription
from transport.endpoint import Handler, Request, inline
from transport.source import source_host

__all__ = [
    "RAFT_ID_FILE",
    "Assembly",
    "load_or_create_raft_id",
    "local_address",
    "remove_manager_state",
]

RAFT_ID_FILE = "raft_id"
RAFT_DIR = "raft"
BOOTSTRAP_FILE = "raft_bootstrap"  # the group's bootstrap voters (JSON list of Raft ids)
RAFT_JOIN_TIMEOUT = 50.0
RAFT_HANDLERS = ("raft.messages", "raft.propose", "raft.status")

_log = get_logger("node")


def remove_manager_state(state_dir: Path) -> bool:
    """Remove what only a manager keeps (Raft log and snapshots, the data key that
    encrypts them, the Raft id, the bootstrap voters). True if anything was there."""
    found = False
    for name in (RAFT_DIR, KEYSTORE_DIR):
        path = state_dir / name
        if path.exists():
            shutil.rmtree(path)
            found = True
    for name in (BOOTSTRAP_FILE, RAFT_ID_FILE):
        path = state_dir / name
        if path.exists():
            path.unlink()
            found = True
    return found


def load_or_create_raft_id(state_dir: Path) -> int:
    """This node's Raft member id: a random 63-bit integer kept in STATE_DIR/raft_id."""
    path = state_dir / RAFT_ID_FILE
    if path.exists():
        text = path.read_text().strip()
        if not text.isdigit() or not 0 < int(text) < 2**63:
            raise IdentityError(f"{path} does not hold a valid Raft id")
        return int(text)
    if (state_dir / RAFT_DIR).exists():
        raise IdentityError(f"{path} is missing but {state_dir / RAFT_DIR} exists")
    raft_id = random.SystemRandom().randrange(1, 2**63)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(f"{raft_id}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return raft_id


class Assembly:
    def __init__(
        self,
        *,
        state_dir: Path,
        startup: NodeStartup,
        listen_remote_api: str,
        advertise_addr: str,
        executor_kind: str,
        description: NodeDescription,
        labels: Mapping[str, str],
        stop_timeout: float = 5.0,
        tick_interval: float = 0.1,
        raft_cipher: Cipher | None = None,
        process_sandbox: ProcessSandbox | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.process_sandbox = process_sandbox  # the process executor's (cli/node_main.py)
        self.raft_cipher = raft_cipher  # the data key's cipher (actors/node/startup/keys.py)
        self.startup = startup
        self.identity = startup.identity
        self.role = startup.role
        self.executor_kind = executor_kind
        self.description = description
        self.stop_timeout = stop_timeout
        self.tick_interval = tick_interval
        self.listen_remote_api = listen_remote_api
        self.advertise_addr = advertise_addr  # host:port other nodes use
        self.raft_addr = advertise_addr
        self.source = source_host(listen_remote_api)  # outgoing connections leave from it
        self.store = MemoryStore(clock=time.time)
        self.raft = RaftHolder()
        self.switch = LeadershipSwitch()
        self.dispatcher = ActorSlot()
        self.outbox = StatusOutbox()
        self.remote_address = ""  # tcp://host:port once the remote endpoint listens
        self.raft_id = 0
        self.founder = False
        self.directory = ManagerDirectory(None, startup.managers)
        self.node_certs = startup.certs  # replaced by each renewal (renewer_child)
        self.session_role: NodeRole | None = None  # the Node's role, as the leader last said
        self.on_role_change: Callable[[NodeCertificates], None] | None = None
        self._peers: Directory | None = None
        self._store_settings: Callable[[], RenewalSettings] | None = None
        if not self.is_manager:
            if remove_manager_state(state_dir):
                _log.info("node.manager_state.removed", reason="this node is a worker")
            return
        self.raft_id = load_or_create_raft_id(state_dir)
        # the founder bootstraps a one-member group; a joined manager starts empty and is
        # added by the leader (actors/node/membership/join.py)
        self.founder = startup.mode == "init" or (
            startup.mode == "resume" and startup.initial_cluster.cluster is not None
        )
        self.bootstrap_voters = self._load_bootstrap()
        own = manager_entry(
            f"tcp://{advertise_addr}",
            self.identity.keypair.public,
            self.raft_id,
            startup.certs.cert_pem,
        )
        self.directory = ManagerDirectory(
            self.store, startup.managers, own=own, own_node_id=self.identity.node_id
        )
        self.admission = ClusterAdmission(
            startup.certs.ca, startup.cluster_id, clock=time.time, logger=get_logger("ca")
        )
        self.ca = CAService(
            self.store,
            self.admission,
            manager_cert=lambda: self.node_certs.cert_pem,
            clock=time.time,
            rng=secrets.SystemRandom(),
            managers=self.manager_entries,
            advertise_addr=f"tcp://{advertise_addr}",
        )
        self.registration = Registration(
            node_id=self.identity.node_id,
            raft_id=self.raft_id,
            raft_addr=advertise_addr,
            description=description,
            labels=dict(labels),
            certificate=startup.certs.cert_pem,
            initial_cluster=lambda: startup.initial_cluster.cluster,
            cluster_committed=startup.initial_cluster.committed,
        )

    @property
    def is_manager(self) -> bool:
        return self.role is NodeRole.MANAGER

    def _load_bootstrap(self) -> tuple[int, ...] | None:
        """The group's bootstrap voters, kept in STATE_DIR/raft_bootstrap: the founder's
        own id on the founder; on a joined manager what the leader said (None: not yet)."""
        path = self.state_dir / BOOTSTRAP_FILE
        if path.exists():
            try:
                return tuple(int(v) for v in json.loads(path.read_text()))
            except (OSError, ValueError, TypeError) as exc:
                raise IdentityError(f"{path} does not hold a list of Raft ids: {exc}") from None
        if self.founder:
            voters = (self.raft_id,)
            write_private_file(path, json.dumps(list(voters)).encode())
            return voters
        return None

    def _join_raft(self) -> tuple[int, ...]:
        """First start of a joined manager: be added by the leader and learn the bootstrap
        voters before the storage is created (actors/node/membership/join.py)."""
        reply = self.join_asker().until_accepted(time.monotonic() + RAFT_JOIN_TIMEOUT)
        voters = tuple(int(v) for v in reply.get("voters") or ())
        self.directory.add_seeds(reply.get("managers") or ())
        if not voters:
            raise RuntimeError("the leader did not say the group's bootstrap voters")
        write_private_file(self.state_dir / BOOTSTRAP_FILE, json.dumps(list(voters)).encode())
        self.bootstrap_voters = voters
        return voters

    def join_asker(self) -> JoinAsker:
        return JoinAsker(
            node_id=self.identity.node_id,
            raft_id=self.raft_id,
            advertise=self.advertise_addr,
            keypair=self.identity.keypair,
            managers=self.manager_entries,
            source=self.source,
        )

    # -- security ---------------------------------------------------------------------
    def start_security(self) -> None:
        """Index the certificates the store holds (kept current by a watch), plus this
        node's own and those of the managers it knows from its join, so Raft traffic from
        them is authorized before the store has caught up."""
        if not self.is_manager:
            return
        self.ca.start()
        seeds = [(self.startup.certs.cert_pem, NodeRole.MANAGER)] + [
            (str(m["certificate"]).encode("ascii"), NodeRole.MANAGER)
            for m in self.startup.managers
            if m.get("certificate")
        ]
        for cert, role in seeds:
            try:
                self.admission.add_certificate(cert, role)
            except (CertificateError, ValueError) as exc:
                _log.warning("node.admission.seed_skipped", error=str(exc))

    def stop_security(self) -> None:
        if self.is_manager:
            self.ca.stop()

    def guard_remote(self, table: Mapping[str, Handler]) -> dict[str, Handler]:
        return authorize(table, self.admission)

    # -- addresses --------------------------------------------------------------------
    def remote_listening(self, address: str) -> None:
        self.remote_address = address

    def manager_entries(self) -> list[dict[str, Any]]:
        return self.directory.entries()

    def managers(self) -> Sequence[ManagerAddress]:
        return self.directory.addresses()

    def session_addr(self) -> str:
        """The IP this node reports with its session (``node.ip``); none for a wildcard."""
        host = self.advertise_addr.rpartition(":")[0].strip("[]")
        return "" if host in ("", "0.0.0.0", "::") else host

    def hello_bind(self) -> str:
        """The join-hello endpoint: the remote API's host, port + 1 (actors/ca/join.py)."""
        return hello_address(self.listen_remote_api)

    # -- raft -------------------------------------------------------------------------
    def make_raft(self) -> RaftNode:
        """Runs in the raft child's ``on_start``: open the storage, build the node."""
        voters = self.bootstrap_voters
        if voters is None:
            voters = () if (self.state_dir / RAFT_DIR).exists() else self._join_raft()
        storage = DurableStorage.open(
            self.state_dir / RAFT_DIR,
            cipher=self.raft_cipher,
            initial_conf_state=ConfState(voters=voters),
        )
        me = Peer(self.raft_id, f"tcp://{self.advertise_addr}", self.identity.keypair.public)
        known = {**self.directory.raft_peers(), me.id: me}
        try:
            node = RaftNode(
                self.raft_id,
                known,
                storage,
                self.store,
                keypair=self.identity.keypair,
                tick_interval=self.tick_interval,
                voters=voters,
                resolve_peer=self.directory.resolve_peer,
                source=self.source,
            )
        except BaseException:
            storage.close()
            raise
        self.store.attach_proposer(node)
        self.raft.node = node
        node.subscribe(self.switch)
        return node

    def raft_child(self) -> ChildSpec:
        return ChildSpec(
            "raft",
            start_actor(RaftNodeActor, self.make_raft),
            start_timeout=60.0,
            stop_timeout=self.stop_timeout,
        )

    def raft_handlers(self) -> dict[str, Handler]:
        """Raft's entries for the remote endpoint, bound to whichever RaftNode runs now."""
        holder = self.raft

        def delegate(name: str) -> Handler:
            cache: dict[int, Handler] = {}

            def handle(request: Request) -> Mapping[str, Any] | None:
                node = holder.node
                if node is None:
                    request.error("unavailable", "raft is not running")
                    return None
                handler = cache.get(id(node))
                if handler is None:
                    cache.clear()
                    handler = cache[id(node)] = node.handlers()[name]
                return handler(request)

            return inline(handle)

        return {name: delegate(name) for name in RAFT_HANDLERS}

    # -- handler tables ---------------------------------------------------------------
    def remote_handlers(self, _peers: Directory) -> dict[str, Handler]:
        return {
            **self.raft_handlers(),
            **dispatcher_handlers(self.dispatcher.find, self.admission.certified_node),
            **self.ca.handlers(),
            RAFT_JOIN: raft_join_handler(
                self.raft,
                self.store,
                self.admission,
                self.manager_entries,
                lambda: self.bootstrap_voters or (),
            ),
        }

    def hello_handlers(self, _peers: Directory) -> dict[str, Handler]:
        return self.ca.hello_handlers()

    def control_handlers(self, _peers: Directory) -> dict[str, Handler]:
        table = {
            **control_handlers(self.store),
            **cluster_handlers(self.store, rotate_token=self.ca.rotate_token),
        }
        # control.cluster.update takes autolock too (actors/control/unlock.py)
        table = {**table, **unlock_handlers(self.store, table.get("control.cluster.update"))}
        # calls made while this manager starts wait until it can serve them
        return ReadinessGate(self.startup_state).guard(table)

    def startup_state(self) -> StartupState:
        node = self.raft.node
        return StartupState(
            raft_running=node is not None,
            leader_id=node.leader_id if node is not None else 0,
            has_cluster=self.store.view(clusters.get_default) is not None,
        )

    # -- children ---------------------------------------------------------------------
    def leader_child(self) -> ChildSpec:
        store, raft = self.store, self.raft
        keeper = ChildSpec(
            "managers",
            lambda ctx: PeriodicActor.start(ctx, MembershipKeeper(store, raft)),
            stop_timeout=self.stop_timeout,
        )
        return leader_child(
            self.store,
            self.raft,
            self.registration,
            self.dispatcher,
            self.managers,
            stop_timeout=self.stop_timeout,
            extra=(keeper,),
        )

    def joiner_child(self) -> ChildSpec:
        return ChildSpec(
            "raftjoin",
            lambda ctx: PeriodicActor.start(
                ctx,
                RaftJoiner(raft=self.raft, raft_id=self.raft_id, asker=self.join_asker()),
                first_delay=0.0,
            ),
            stop_timeout=self.stop_timeout * 3,
        )

    def worker_child(self) -> ChildSpec:
        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            executor = make_executor(
                self.executor_kind,
                state_dir=self.state_dir,
                node_id=self.identity.node_id,
                sandbox=self.process_sandbox,
            )
            return Worker.start(
                ctx,
                executor=executor,
                state_dir=self.state_dir,
                node_id=self.identity.node_id,
                reporter=self.outbox,
                state_cipher=keys.worker_state_cipher() if (keys := self.startup.keys) else None,
            )

        return ChildSpec("worker", start, stop_timeout=self.stop_timeout * 2)

    def agent_child(self) -> ChildSpec:
        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            peers = ctx.peers
            self._peers = peers
            return Agent.start(
                ctx,
                node_id=self.identity.node_id,
                keypair=self.identity.keypair,
                managers=self.managers(),
                sink=WorkerSink(lambda: peers.get("worker")),
                description=self.description,
                statuses=self.outbox,
                addr=self.session_addr(),
                source=self.source,
                on_role=self._session_role_seen,
                on_managers=self._session_managers_seen,
                refresh_managers=self.managers,
            )

        return ChildSpec("agent", start, stop_timeout=self.stop_timeout)

    # -- role changes -----------------------------------------------------------------
    def _session_role_seen(self, role: str) -> None:
        try:
            seen = NodeRole(role)
        except ValueError:
            return
        if seen is self.session_role:
            return
        self.session_role = seen
        _log.info("node.role.seen", role=seen.value, running=self.role.value)
        peers = self._peers
        renewer = peers.find("renewer") if peers is not None else None
        if renewer is not None:
            renewer.tell(CHECK_NOW)

    def _session_managers_seen(self, managers: Sequence[ManagerAddress]) -> None:
        """Keep STATE_DIR/managers.json (and a worker's list) as the leader says, without
        this node, each entry with the Raft id and certificate this node knows of it."""
        own = self.identity.keypair.public.decode("ascii")
        known = {str(m.get("server_key")): m for m in self.manager_entries()}
        entries: list[dict[str, Any]] = []
        for m in managers:
            key = m.server_key.decode("ascii")
            if key == own:
                continue
            entry = dict(known.get(key) or {})
            entry.update(addr=m.addr, server_key=key)
            entries.append(entry)
        if not entries:
            return
        if not self.is_manager:
            self.directory.set_seeds(entries)
        if entries != [dict(m) for m in read_managers(self.state_dir)]:
            write_managers(self.state_dir, entries)
            _log.info("node.managers.saved", managers=len(entries))

    def _settings(self) -> RenewalSettings:
        stored = self._store_settings() if self._store_settings is not None else RenewalSettings()
        role = renewal_role(self.session_role, stored.role, self.node_certs.info.role)
        return RenewalSettings(role=role, cert_expiry=stored.cert_expiry)

    def renewer_child(self) -> ChildSpec:
        if self.is_manager:
            self._store_settings = store_settings(self.store, self.identity.node_id)
        settings = self._settings
        return ChildSpec(
            "renewer",
            start_actor(
                CertRenewer,
                state_dir=self.state_dir,
                certs=self.node_certs,
                managers=self.managers,
                settings=settings,
                on_renewed=self._cert_renewed,
                source=self.source,
            ),
            stop_timeout=self.stop_timeout,
        )

    def _cert_renewed(self, certs: NodeCertificates) -> None:
        """The CA service's hello serves the new certificate; a manager indexes it now. A
        certificate of the other role restarts the node in that role (``on_role_change``:
        the caller must not block, this runs on the renewer)."""
        self.node_certs = certs
        if self.is_manager:
            self.admission.add_certificate(certs.cert_pem, certs.info.role)
        restart = role_restart(self.role, certs.info.role)
        if restart is not None:
            _log.info("node.role.changing", role=restart.value, running=self.role.value)
            if self.on_role_change is not None:
                self.on_role_change(certs)
