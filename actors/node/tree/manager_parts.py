"""The manager's parts: the builder of a manager node's tree.

`ManagerParts` holds what outlives any one child instance: the store (rebuilt by Raft
from the snapshot and the committed log when the raft child starts), the current
RaftNode, the leadership switch, the dispatcher's slot, the CA service and the admission
index. Its children, in start order (stopped in reverse):

    metrics, web   with --metrics-addr / --web-addr (first: a taken port stops the start
             at once): Prometheus, the live web view (actors/web/) from the store
    raft     RaftNodeActor: opens DurableStorage (STATE_DIR/raft; a one-member group when
             this node founded the cluster, empty when it joined), attaches itself to the
             store as its proposer, subscribes the leadership switch
    remote   TCP ROUTER, CURVE with the node's key pair, ZAP by the CA-backed admission
             index, every handler authorized per message type (``authorize``: raft.*
             managers, dispatcher.* any node, ca.join anyone): Raft, the CA (join,
             renew), the dispatcher's sessions, ``raft.join``
    events   the event watches of ``swarmctl events``, from this manager's own store
             (actors/events/streams.py)
    control  ipc:// ROUTER (file mode 0600): the control API, gated until this manager
             can serve it (actors/control/readiness.py); its node calls read Raft's
             membership from the raft child (`raft_view`); log subscriptions are served
             by the leader's log broker, relayed to it from the others (actors/logs/)
    hello    the join-hello endpoint (remote port + 1, published key: ca.hello only)
    leader   the leader-only group (actors/node/tree/leader_group.py), started and
             stopped by Raft's leadership, with the membership keeper
             (actors/node/membership/keeper.py) and the log broker (actors/logs/broker.py)
    raftjoin the joiner (actors/node/membership/join.py): asks the leader to add this
             manager to Raft until it is a member
    keys     the keys at rest following the Cluster object (actors/node/startup/at_rest.py)
    worker, agent, logs, renewer   the shared parts (actors/node/tree/worker_parts.py)

The admission index follows the store through the CA service's watch, started before the
tree (`opening`) with this node's own certificate and its join's managers' seeded, so
Raft traffic from them is authorized before the store has caught up.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

import pykka

from actors.ca.authorization import ClusterAdmission, authorize
from actors.ca.certs import CertificateError
from actors.ca.join import HELLO_MAX_MESSAGE_SIZE, hello_address, hello_keypair
from actors.ca.renewer import store_settings
from actors.ca.rotation_keeper import RootRotationKeeper
from actors.ca.service import CAService
from actors.control import control_handlers
from actors.control.cluster import cluster_handlers
from actors.control.cluster_ca import ca_handlers
from actors.control.engine_certs import engine_cert_handlers
from actors.control.errors import ControlCode, ControlError
from actors.control.raft_members import RaftView, live_manager_status, raft_view_of
from actors.control.readiness import ReadinessGate, StartupState
from actors.control.unlock import unlock_handlers
from actors.dispatcher import DispatcherLink, dispatcher_handlers
from actors.events import EventStreams, EventStreamsActor
from actors.log import get_logger
from actors.logs.broker import LogBroker
from actors.logs.handlers import log_control_handlers, log_remote_handlers
from actors.logs.relay import LeaderRelay
from actors.metrics.cluster import ClusterCollector
from actors.metrics.raft import RaftCollector
from actors.metrics.registry import Collector
from actors.node.leaving import leave_handler
from actors.node.membership.join import (
    RAFT_JOIN,
    JoinAsker,
    RaftJoiner,
    keep_remover_first,
    raft_join_handler,
)
from actors.node.membership.keeper import MembershipKeeper
from actors.node.membership.leave import leave_refusal, manager_counts
from actors.node.startup.at_rest import AtRest
from actors.node.startup.security import manager_entry
from actors.node.startup.state_dir import (
    RAFT_DIR,
    load_or_create_raft_id,
    read_bootstrap_voters,
    write_bootstrap_voters,
)
from actors.node.tree.endpoints import (
    HandlerFactory,
    HandlerTable,
    endpoint_child,
    version_handlers,
    with_handlers,
)
from actors.node.tree.leader_group import (
    ActorSlot,
    LeadershipSwitch,
    RaftHolder,
    Registration,
    leader_child,
)
from actors.node.tree.managers import ManagerDirectory
from actors.node.tree.worker_parts import PartsSetup, SharedParts
from actors.periodic import PeriodicActor
from actors.proposal_errors import ProposalDropped
from actors.raft_node.actor import RaftNode, RaftNodeActor, RaftStatus
from actors.raft_node.peers import Peer
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore, clusters, nodes
from actors.supervisor import ChildSpec, Directory, start_actor
from actors.web.child import web_child
from api.enums import NodeRole
from api.specs import RaftConfig
from transport.auth import AdmitAll
from transport.endpoint import Handler, Request, inline

__all__ = ["ManagerParts", "snapshot_interval"]

RAFT_JOIN_TIMEOUT: Final = 50.0
RAFT_HANDLERS: Final = ("raft.messages", "raft.propose", "raft.status")
RAFT_VIEW_TIMEOUT: Final = 2.0  # seconds a control call waits for Raft's membership

_log = get_logger("node")


class ManagerParts:
    """A manager node's tree (see the module docstring)."""

    role = NodeRole.MANAGER

    def __init__(self, setup: PartsSetup, at_rest: AtRest) -> None:
        startup = setup.startup
        if startup.role is not NodeRole.MANAGER:
            raise ValueError("ManagerParts builds a node whose certificate says manager")
        config = setup.config
        self.setup = setup
        self.at_rest = at_rest
        self.identity = setup.identity
        self.store = MemoryStore(clock=time.time)
        self.events = EventStreams(self.store)
        self.raft = RaftHolder()
        self.switch = LeadershipSwitch()
        self.dispatcher = DispatcherLink()
        self.log_broker = ActorSlot()
        self.raft_id = load_or_create_raft_id(config.state_dir)
        # the founder bootstraps a one-member group; a joined manager starts empty and is
        # added by the leader (actors/node/membership/join.py)
        self.founder = startup.mode == "init" or (
            startup.mode == "resume" and startup.initial_cluster.cluster is not None
        )
        self.bootstrap_voters = self._load_bootstrap()
        advertise = config.advertise_addr
        own = manager_entry(
            f"tcp://{advertise}", self.identity.keypair.public, self.raft_id, startup.certs.cert_pem
        )
        self.directory = ManagerDirectory(
            self.store, startup.managers, own=own, own_node_id=self.identity.node_id
        )
        self.log_relay = self._log_relay()  # one connection to the leader, closed in closing()
        self.admission = ClusterAdmission(
            startup.certs.trusted, startup.cluster_id, clock=time.time, logger=get_logger("ca")
        )
        self.shared = SharedParts(
            setup,
            self.directory,
            follow_session_managers=False,
            store_settings=store_settings(self.store, self.identity.node_id),
            admission=self.admission,
        )
        shared = self.shared
        self.ca = CAService(
            self.store,
            self.admission,
            manager_cert=lambda: shared.node_certs.cert_pem,
            clock=time.time,
            rng=secrets.SystemRandom(),
            managers=self.directory.entries,
            advertise_addr=f"tcp://{advertise}",
        )
        self.registration = Registration(
            node_id=self.identity.node_id,
            raft_id=self.raft_id,
            raft_addr=advertise,
            description=setup.description,
            labels=dict(config.labels),
            certificate=startup.certs.cert_pem,
            initial_cluster=lambda: startup.initial_cluster.cluster,
            cluster_committed=startup.initial_cluster.committed,
        )

    def _load_bootstrap(self) -> tuple[int, ...] | None:
        """The group's bootstrap voters: the founder's own id on the founder; on a joined
        manager what the leader said (None: not yet)."""
        state_dir = self.setup.config.state_dir
        voters = read_bootstrap_voters(state_dir)
        if voters is None and self.founder:
            voters = (self.raft_id,)
            write_bootstrap_voters(state_dir, voters)
        return voters

    def _join_raft(self) -> tuple[int, ...]:
        """First start of a joined manager: be added by the leader and learn the bootstrap
        voters before the storage is created (actors/node/membership/join.py)."""
        reply = self.join_asker().until_accepted(time.monotonic() + RAFT_JOIN_TIMEOUT)
        voters = tuple(int(v) for v in reply.get("voters") or ())
        self.directory.add_seeds(reply.get("managers") or ())
        if not voters:
            raise RuntimeError("the leader did not say the group's bootstrap voters")
        write_bootstrap_voters(self.setup.config.state_dir, voters)
        self.bootstrap_voters = voters
        return voters

    def _raft_removed(self, by: int) -> None:
        """Another manager says this one's Raft member was removed from the group: the
        runner rejoins it under a new Raft id (actors/node/runner.py)."""
        _log.warning("node.raft.removed", by=by, raft_id=self.raft_id)
        own = self.identity.keypair.public.decode("ascii")
        keep_remover_first(self.setup.config.state_dir, self.directory.entries(), by, own_key=own)
        if self.setup.on_raft_removed is not None:
            self.setup.on_raft_removed()

    def join_asker(self) -> JoinAsker:
        return JoinAsker(
            node_id=self.identity.node_id,
            raft_id=self.raft_id,
            advertise=self.setup.config.advertise_addr,
            keypair=self.identity.keypair,
            managers=self.directory.entries,
            source=self.setup.source,
        )

    # -- around the tree ------------------------------------------------------------------
    def opening(self) -> None:
        """Index the certificates the store holds (kept current by a watch), plus this
        node's own and those of the managers it knows from its join."""
        self.ca.start()
        startup = self.setup.startup
        seeds = [startup.certs.cert_pem] + [
            str(m["certificate"]).encode("ascii") for m in startup.managers if m.get("certificate")
        ]
        for cert in seeds:
            try:
                self.admission.add_certificate(cert, NodeRole.MANAGER)
            except (CertificateError, ValueError) as exc:
                _log.warning("node.admission.seed_skipped", error=str(exc))

    def attach(self, supervisor: pykka.ActorRef[Any]) -> None:
        """Raft's leadership starts and stops the leader group of ``supervisor``."""
        self.switch.attach(supervisor)

    def closing(self) -> None:
        self.ca.stop()
        self.log_relay.close()

    def _log_relay(self) -> LeaderRelay:
        """This manager's way to the leader's log broker (actors/logs/relay.py)."""
        raft = self.raft

        def leader() -> int:
            node = raft.node
            return node.leader_id if node is not None else 0

        return LeaderRelay(
            leader,
            self.directory.resolve_peer,
            self.identity.keypair,
            source=self.setup.source,
        )

    # -- raft -----------------------------------------------------------------------------
    def make_raft(self) -> RaftNode:
        """Runs in the raft child's ``on_start``: open the storage, build the node."""
        state_dir = self.setup.config.state_dir
        voters = self.bootstrap_voters
        if voters is None:
            voters = () if (state_dir / RAFT_DIR).exists() else self._join_raft()
        storage = DurableStorage.open(
            state_dir / RAFT_DIR,
            cipher=self.at_rest.raft_cipher(),
            initial_conf_state=ConfState(voters=voters),
        )
        advertise = self.setup.config.advertise_addr
        me = Peer(self.raft_id, f"tcp://{advertise}", self.identity.keypair.public)
        known = {**self.directory.raft_peers(), me.id: me}
        try:
            node = RaftNode(
                self.raft_id,
                known,
                storage,
                self.store,
                keypair=self.identity.keypair,
                tick_interval=self.setup.tick_interval,
                voters=voters,
                resolve_peer=self.directory.resolve_peer,
                source=self.setup.source,
                snapshot_interval=snapshot_interval(self.store),
                on_removed=self._raft_removed,
            )
        except BaseException:
            storage.close()
            raise
        self.store.attach_proposer(node)
        self.raft.node = node
        node.subscribe(self.switch)
        return node

    def raft_handlers(self) -> dict[str, Handler]:
        """Raft's entries for the remote endpoint, bound to whichever RaftNode runs now."""
        holder = self.raft

        def after() -> float | None:  # one for every name: a batch runs it once (inline)
            node = holder.node
            return node.run_handed_in() if node is not None else None

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
                    handler = node.handlers()[name]
                    # the node's inline handler's own function: its ``after`` runs once per
                    # batch (below), not after every request
                    handler = cache[id(node)] = getattr(handler, "fn", handler)
                return handler(request)

            return inline(handle, after=after)

        return {name: delegate(name) for name in RAFT_HANDLERS}

    # -- handler tables -------------------------------------------------------------------
    def endpoint_tables(self) -> dict[str, HandlerFactory]:
        """What each endpoint serves, by endpoint name (tests/security reads them)."""
        version = version_handlers(self.identity, self.role)
        remote = with_handlers(version, self.remote_handlers)
        admission = self.admission
        return {
            "remote": lambda peers: authorize(remote(peers), admission),
            "control": with_handlers(
                with_handlers(version, self.control_handlers), self.leave_handlers
            ),
            "hello": self.hello_handlers,
        }

    def remote_handlers(self, _peers: Directory) -> HandlerTable:
        return {
            **self.raft_handlers(),
            **dispatcher_handlers(
                self.dispatcher, self.admission.certified_node, self.ca.trust_summary
            ),
            **log_remote_handlers(self.log_broker.find, self.admission.certified_node),
            **self.ca.handlers(),
            RAFT_JOIN: raft_join_handler(
                self.raft,
                self.store,
                self.admission,
                self.directory.entries,
                lambda: self.bootstrap_voters or (),
            ),
        }

    def hello_handlers(self, _peers: Directory) -> HandlerTable:
        return self.ca.hello_handlers()

    def control_handlers(self, _peers: Directory) -> HandlerTable:
        table = {
            **control_handlers(self.store, raft_view=self.raft_view),
            **cluster_handlers(self.store, rotate_token=self.ca.rotate_token),
            **ca_handlers(self.store, rotate_root=self.ca.rotate_root),
            **engine_cert_handlers(self.ca.engine_certificate),
            **log_control_handlers(self.log_broker.find, self.log_relay),
            "control.events": self.events.handler(),
        }
        # control.cluster.update takes autolock too (actors/control/unlock.py)
        table = {**table, **unlock_handlers(self.store, table.get("control.cluster.update"))}
        # calls made while this manager starts wait until it can serve them
        return ReadinessGate(self.startup_state).guard(table)

    def leave_handlers(self, _peers: Directory) -> HandlerTable:
        """``swarm leave``, outside the readiness gate: a manager that knows no leader is
        refused in Docker's words, and leaves with ``--force``."""
        return leave_handler(self.setup.on_leave, self.leave_refusal, self.setup.leave_timeout)

    def leave_refusal(self, force: bool) -> str | None:
        """Docker's refusal of a manager's leave, its counts from the managers' live
        status (as ``node ls`` shows it: Raft's view over this manager's store)."""
        if force:
            return None
        node = self.raft.node
        counts = None
        if node is not None and node.leader_id:
            try:
                view = self.raft_view()
            except ControlError:
                view = None  # Docker's message without counts, as when it cannot list
            if view is not None:
                counts = self.store.view(
                    lambda tx: manager_counts(
                        [
                            replace(n, manager_status=live_manager_status(n, view))
                            for n in nodes.list_all(tx)
                        ],
                        self.identity.node_id,
                    )
                )
        return leave_refusal(self.role, force, serving=node is not None, counts=counts)

    def raft_view(self) -> RaftView:
        """Raft's membership as this manager's member sees it now, asked of its loop (which
        answers between two rounds) for at most `RAFT_VIEW_TIMEOUT` seconds."""
        node = self.raft.node
        if node is None:
            raise ControlError(ControlCode.UNAVAILABLE, "this manager's Raft member is not running")
        try:
            return raft_view_of(node.status(RAFT_VIEW_TIMEOUT))
        except TimeoutError:
            raise ControlError(
                ControlCode.UNAVAILABLE,
                f"this manager's Raft member did not say its members within "
                f"{RAFT_VIEW_TIMEOUT:g}s; retry",
            ) from None
        except ProposalDropped:  # the member stopped meanwhile (a restart)
            raise ControlError(
                ControlCode.UNAVAILABLE, "this manager's Raft member stopped; retry"
            ) from None

    def startup_state(self) -> StartupState:
        node = self.raft.node
        return StartupState(
            raft_running=node is not None,
            leader_id=node.leader_id if node is not None else 0,
            has_cluster=self.store.view(clusters.get_default) is not None,
            leaderless_for=node.leaderless_seconds if node is not None else 0.0,
        )

    def metrics_collectors(self) -> list[Collector]:
        """A manager's own scrape-time metrics: its store's (cluster-wide) and Raft's."""
        holder = self.raft

        def raft_status() -> RaftStatus | None:
            node = holder.node
            if node is None:
                return None
            try:
                return node.status(timeout=2.0)
            except Exception:  # stopping, or a loop too busy to answer: skip this scrape
                return None

        return [ClusterCollector(self.store), RaftCollector(raft_status)]

    def web_children(self) -> list[ChildSpec]:
        """The live web view when ``--web-addr`` is given (early in the tree, as metrics:
        a taken port stops the start at once), fed by this manager's own store."""
        config = self.setup.config
        if config.web_addr is None:
            return []
        holder = self.raft

        def leaderless_for() -> float | None:
            node = holder.node
            return None if node is None else node.leaderless_seconds

        return [
            web_child(
                config.web_addr,
                self.store,
                token=config.web_token,
                control_socket=config.listen_control_api,
                leaderless_for=leaderless_for,
                stop_timeout=config.stop_timeout,
            )
        ]

    # -- children -------------------------------------------------------------------------
    def children(self) -> list[ChildSpec]:
        config = self.setup.config
        stop_timeout = config.stop_timeout
        tables = self.endpoint_tables()
        store, raft = self.store, self.raft
        return [
            *self.shared.metrics_children(self.metrics_collectors),
            *self.web_children(),
            ChildSpec(
                "raft",
                start_actor(RaftNodeActor, self.make_raft),
                start_timeout=60.0,
                stop_timeout=stop_timeout,
            ),
            endpoint_child(
                "remote",
                config.remote_bind,
                tables["remote"],
                keypair=self.identity.keypair,
                admission=self.admission,
                stop_timeout=stop_timeout,
            ),
            # every port bound before the control socket appears (the hello port, the
            # Engine API's): a taken port fails the start before swarmctl (unlock, or
            # any call) is answered by a node that is about to stop
            endpoint_child(
                "hello",
                hello_address(config.listen_remote_api),  # port + 1 (actors/ca/join.py)
                tables["hello"],
                keypair=hello_keypair(),
                admission=AdmitAll(),
                max_message_size=HELLO_MAX_MESSAGE_SIZE,  # anyone: ZeroMQ drops bigger frames
                stop_timeout=stop_timeout,
            ),
            *self.shared.engine_children(),  # its calls wait for the control socket
            endpoint_child(
                "control", config.control_bind, tables["control"], stop_timeout=stop_timeout
            ),
            # after the control socket, so it stops first: the watches it ends as it stops
            # get their final frame through that socket (actors/events/streams.py)
            ChildSpec(
                "events",
                lambda ctx: EventStreamsActor.start(ctx, self.events),
                stop_timeout=stop_timeout,
            ),
            leader_child(
                store,
                raft,
                self.registration,
                self.dispatcher,
                self.shared.managers,
                stop_timeout=stop_timeout,
                extra=(
                    ChildSpec(
                        "managers",
                        lambda ctx: PeriodicActor.start(ctx, MembershipKeeper(store, raft)),
                        stop_timeout=stop_timeout,
                    ),
                    ChildSpec(
                        "carotation",
                        lambda ctx: PeriodicActor.start(
                            ctx, RootRotationKeeper(store, self.ca.finish_rotation)
                        ),
                        stop_timeout=stop_timeout,
                    ),
                    ChildSpec(
                        "logbroker",
                        self.log_broker.record(start_actor(LogBroker, store)),
                        stop_timeout=stop_timeout,
                    ),
                ),
            ),
            ChildSpec(
                "raftjoin",
                lambda ctx: PeriodicActor.start(
                    ctx,
                    RaftJoiner(raft=raft, raft_id=self.raft_id, asker=self.join_asker()),
                    first_delay=0.0,
                ),
                stop_timeout=stop_timeout * 3,
            ),
            ChildSpec(
                "keys",
                lambda ctx: PeriodicActor.start(ctx, self.at_rest.job(store, raft), first_delay=0),
                stop_timeout=stop_timeout,
            ),
            *self.shared.children(),
        ]


def snapshot_interval(store: MemoryStore) -> Callable[[], int]:
    """The cluster's ``raft.snapshot_interval`` as the Raft loop reads it at every check
    (SwarmKit's getCurrentRaftConfig), so ``cluster update --snapshot-interval`` takes
    effect on every manager once applied; the default before a cluster object exists."""
    default = RaftConfig().snapshot_interval

    def current() -> int:
        cluster = store.view(clusters.get_default)
        return cluster.spec.raft.snapshot_interval if cluster is not None else default

    return current
