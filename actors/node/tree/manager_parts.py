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
    hello    the join-hello endpoint (remote port + 1, published key: ca.hello only)
    engine   with --engine-api: the Docker Engine API (the shared parts' engine child),
             bound before the control socket so a taken port fails the start first
    control  ipc:// ROUTER (file mode 0600): the control API, gated until this manager
             can serve it (actors/control/readiness.py); its node calls read Raft's
             membership from the raft child (`raft_view`); log subscriptions are served
             by the leader's log broker, relayed to it from the others (actors/logs/)
    events   the event watches of ``swarmctl events``, from this manager's own store
             (actors/events/streams.py); after the control socket, so it stops first
    leader   the leader-only group (actors/node/tree/leader_group.py), started and
             stopped by Raft's leadership, with the membership keeper
             (actors/node/membership/keeper.py), the root CA rotation keeper
             (actors/ca/rotation_keeper.py) and the log broker (actors/logs/broker.py)
    raftjoin the joiner (actors/node/membership/join.py): asks the leader to add this
             manager to Raft until it is a member
    keys     the keys at rest following the Cluster object (actors/node/startup/at_rest.py)
    worker, agent, logs, renewer   the shared parts (actors/node/tree/shared_parts.py)

The admission index follows the store through the CA service's watch, started before the
tree (`opening`) with this node's own certificate and its join's managers' seeded, so
Raft traffic from them is authorized before the store has caught up.

Beside this module: the endpoints' handler tables (actors/node/tree/manager_tables.py),
the other parts' way to Raft through the `RaftHolder` (manager_raft.py: Raft's remote
handlers, its membership view, the readiness state, the snapshot interval), this
manager's own place in the Raft group (manager_membership.py: the bootstrap voters, the
first start's join, which the node's stop ends, a refused join, a removal), and the
metrics and web view (manager_views.py).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pykka

from actors.ca.authorization import ClusterAdmission
from actors.ca.certs import CertificateError
from actors.ca.join import HELLO_MAX_MESSAGE_SIZE, hello_address, hello_keypair
from actors.ca.rotation_keeper import RootRotationKeeper
from actors.ca.service import CAService
from actors.ca.store_settings import StoreSettings
from actors.dispatcher import DispatcherLink
from actors.events import EventStreams, EventStreamsActor
from actors.log import get_logger
from actors.logs.broker import LogBroker
from actors.logs.relay import LeaderRelay
from actors.node.membership.join import RaftJoiner
from actors.node.membership.keeper import MembershipKeeper
from actors.node.startup.at_rest import AtRest
from actors.node.startup.security import manager_entry
from actors.node.startup.state_dir import RAFT_DIR, load_or_create_raft_id
from actors.node.tree.endpoints import (
    HandlerFactory,
    endpoint_child,
)
from actors.node.tree.leader_group import (
    ActorSlot,
    LeadershipSwitch,
    RaftHolder,
    Registration,
    leader_child,
)
from actors.node.tree.manager_membership import (
    RAFT_START_TIMEOUT,
    RaftMembership,
    admit_managers,
)
from actors.node.tree.manager_raft import (
    leader_id,
    snapshot_interval,
)
from actors.node.tree.manager_tables import manager_endpoint_tables
from actors.node.tree.manager_views import manager_collectors, manager_web_children
from actors.node.tree.managers import ManagerDirectory
from actors.node.tree.parts_setup import PartsSetup
from actors.node.tree.shared_parts import SharedParts
from actors.periodic import PeriodicActor
from actors.raft_node.actor import RaftNode, RaftNodeActor
from actors.raft_node.peers import Peer
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore
from actors.supervisor import ChildSpec, start_actor
from api.enums import NodeRole
from api.limits import CONTROL_MAX_REQUEST_BYTES, REMOTE_MAX_REQUEST_BYTES
from transport.auth import AdmitAll

__all__ = ["ManagerParts"]

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
        advertise = config.advertise_addr
        own = manager_entry(
            f"tcp://{advertise}", self.identity.keypair.public, self.raft_id, startup.certs.cert_pem
        )
        self.directory = ManagerDirectory(
            self.store,
            startup.managers,
            own=own,
            own_node_id=self.identity.node_id,
            own_certificate=lambda: self.shared.node_certs.cert_pem,  # renewed meanwhile
        )
        self.log_relay = self._log_relay()  # one connection to the leader, closed in closing()
        self.admission = ClusterAdmission(
            startup.certs.trusted, startup.cluster_id, clock=time.time, logger=get_logger("ca")
        )
        self.shared = SharedParts(
            setup,
            self.directory,
            follow_session_managers=False,
            store_settings=StoreSettings(self.store, self.identity.node_id),
            admission=self.admission,
        )
        shared = self.shared
        self.membership = RaftMembership(
            setup, self.raft_id, self.store, self.directory, shared, self.admission
        )
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

    # -- around the tree ------------------------------------------------------------------
    def opening(self) -> None:
        """Index the certificates the store holds (kept current by a watch), plus this
        node's own and those of the managers it knows from its join."""
        self.ca.start()
        startup = self.setup.startup
        try:
            self.admission.add_certificate(startup.certs.cert_pem, NodeRole.MANAGER)
        except (CertificateError, ValueError) as exc:
            _log.warning("node.admission.seed_skipped", error=str(exc))
        admit_managers(self.admission, startup.managers)

    def attach(self, supervisor: pykka.ActorRef[Any]) -> None:
        """Raft's leadership starts and stops the leader group of ``supervisor``."""
        self.switch.attach(supervisor)

    def closing(self) -> None:
        self.ca.stop()
        self.log_relay.close()

    def _log_relay(self) -> LeaderRelay:
        """This manager's way to the leader's log broker (actors/logs/relay.py)."""
        raft = self.raft
        return LeaderRelay(
            lambda: leader_id(raft),
            self.directory.resolve_peer,
            self.identity.keypair,
            source=self.setup.source,
        )

    # -- raft -----------------------------------------------------------------------------
    def make_raft(self) -> RaftNode:
        """Runs in the raft child's ``on_start``: open the storage, build the node."""
        state_dir = self.setup.config.state_dir
        voters = self.membership.voters()
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
                on_removed=self.membership.removed,
            )
        except BaseException:
            storage.close()
            raise
        self.store.attach_proposer(node)
        self.raft.node = node
        node.subscribe(self.switch)
        return node

    # -- handler tables -------------------------------------------------------------------
    def endpoint_tables(self) -> dict[str, HandlerFactory]:
        """What each endpoint serves, by endpoint name (tests/security reads them)."""
        return manager_endpoint_tables(self)

    # -- children -------------------------------------------------------------------------
    def children(self) -> list[ChildSpec]:
        config = self.setup.config
        stop_timeout = config.stop_timeout
        tables = self.endpoint_tables()
        store, raft = self.store, self.raft
        return [
            *self.shared.metrics_children(lambda: manager_collectors(store, raft)),
            *manager_web_children(config, store, raft),
            ChildSpec(
                "raft",
                start_actor(RaftNodeActor, self.make_raft),
                start_timeout=RAFT_START_TIMEOUT,  # a first start's join, then its storage
                stop_timeout=stop_timeout,
            ),
            endpoint_child(
                "remote",
                config.remote_bind,
                tables["remote"],
                keypair=self.identity.keypair,
                admission=self.admission,
                max_request_size=REMOTE_MAX_REQUEST_BYTES,  # twice a Raft batch (api/limits.py)
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
                "control",
                config.control_bind,
                tables["control"],
                max_request_size=CONTROL_MAX_REQUEST_BYTES,  # one object's spec at most
                stop_timeout=stop_timeout,
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
                    RaftJoiner(raft=raft, raft_id=self.raft_id, asker=self.membership.join_asker()),
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
