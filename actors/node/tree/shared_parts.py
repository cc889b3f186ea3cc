"""The shared parts: what every node runs to run tasks and keep its certificate.

`SharedParts` (every node, a manager too) declares:

    mesh     Mesh (actors/worker/mesh.py): the routing mesh, listening on --mesh-addr on
             every ingress port of the table the agent's sessions bring
    worker   Worker (state in STATE_DIR/worker) over the chosen executor
    agent    Agent: a CURVE session to a manager's dispatcher (a manager's own first)
    logs     LogPublisher (actors/logs/publisher.py): listens to the leader's log broker
             for the subscriptions that concern this node and publishes its tasks' output
             and its own log events (actors/logs/node_ring.py)
    renewer  CertRenewer (actors/ca/renewer.py): renews this node's certificate through
             ``ca.renew`` on the managers it knows (on a manager also early when its
             store applies a change of its role, the cluster's roots or cert expiry:
             actors/ca/store_settings.py)

and, when asked for, the ``metrics`` and ``engine`` endpoints (`metrics_children`,
`engine_children`), which each role's parts place in its tree. The agent and the worker's
executor share the node's `DependencyStore` (the secrets and configs its sessions bring,
in memory only, kept across restarts of either) and its `TaskFiles` (their files, on a
tmpfs: `default_files_root`).

`SharedParts` follows the node's role: the agent passes the role its session names (the
Node's role in the leader's store: on the stream when it changed, and in each heartbeat
reply) to it, which tells the renewer to look again when it changed; the renewer renews
towards it (actors/node/membership/roles.py `renewal_role`); a renewed certificate of the
other role calls ``on_role_change`` (the runner restarts the node's parts in that role).
The manager list the sessions send is kept in STATE_DIR/managers.json (without this node).
The agent reports the certificate the node uses (actors/ca/tls_info.py) as the renewer
last installed it, on every node, a manager too: a root CA rotation completes by these
reports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pykka

from actors.ca.authorization import ClusterAdmission
from actors.ca.node_certs import NodeCertificates
from actors.ca.renewal import RenewalSettings
from actors.ca.renewer import CHECK_NOW, CertRenewer
from actors.ca.root import MAX_TRUSTED_ROOTS
from actors.ca.store_settings import StoreSettings
from actors.ca.tls_info import node_tls_info
from actors.dispatcher import ManagerAddress
from actors.engine_api.child import check_engine_address, engine_api_child
from actors.engine_api.tls import EngineTLSError, engine_tls_context
from actors.log import get_logger
from actors.logs.node_ring import NodeEvents
from actors.logs.publisher import LogPublisher, WorkerTasks
from actors.metrics.http import metrics_child
from actors.metrics.node import NodeTasksCollector
from actors.metrics.registry import Collector
from actors.metrics.transport import TransportCollector
from actors.node.config import NodeError
from actors.node.executor_switch import switch_executor
from actors.node.membership.roles import renewal_managers, renewal_role, role_restart
from actors.node.startup.security import read_managers, write_managers
from actors.node.tree.managers import ManagerDirectory
from actors.node.tree.parts_setup import PartsSetup
from actors.supervisor import ChildContext, ChildSpec, Directory, start_actor
from actors.worker.agent import Agent, AgentState
from actors.worker.agent_calls import StatusOutbox
from actors.worker.dependencies import DependencyStore
from actors.worker.executors import make_executor
from actors.worker.mesh import IngressHolder, Mesh
from actors.worker.resources import TaskResources
from actors.worker.task_files import TaskFiles, default_files_root
from actors.worker.worker import Worker
from actors.worker.worker_sink import WorkerSink
from api.enums import NodeRole
from api.objects import TaskStatus

__all__ = ["SharedParts"]

_log = get_logger("node")


class SharedParts:
    def __init__(
        self,
        setup: PartsSetup,
        directory: ManagerDirectory,
        *,
        follow_session_managers: bool,
        store_settings: StoreSettings | None = None,
        admission: ClusterAdmission | None = None,
    ) -> None:
        """``follow_session_managers``: a worker's directory is the list its sessions
        send; a manager's ``store_settings`` and ``admission``: the renewer reads its
        store and looks again when it applies a change that matters, and a renewed
        certificate is indexed at once."""
        self.setup = setup
        self.role = setup.startup.role
        self.directory = directory
        self.outbox = StatusOutbox()
        self.resources = TaskResources()  # networks and credentials the session brings
        self.dependencies = DependencyStore()
        self.ingress = IngressHolder()  # the mesh's table, kept across restarts of either
        self.files = TaskFiles(
            default_files_root(setup.identity.node_id),
            self.dependencies,
            state_dir=setup.config.state_dir,
            description=setup.description,
        )
        self.node_certs = setup.startup.certs  # replaced by each renewal
        # what the agent reports of the certificate in use (replaced with it)
        self.tls_info = node_tls_info(self.node_certs)
        self.session_role: NodeRole | None = None  # the Node's role, as the leader last said
        # the root the cluster issues under and the roots it trusts, as the leader last said
        self.session_ca: tuple[str, tuple[str, ...]] | None = None
        self._follow = follow_session_managers
        self._store_settings = store_settings
        self._admission = admission
        self._peers: Directory | None = None

    def managers(self) -> Sequence[ManagerAddress]:
        return self.directory.addresses()

    def children(self) -> list[ChildSpec]:
        return [
            self.mesh_child(),  # first: it needs no other part, and stops last
            self.worker_child(),
            self.agent_child(),
            self.publisher_child(),
            self.renewer_child(),
        ]

    def metrics_children(self, extra: Callable[[], Sequence[Collector]] = tuple) -> list[ChildSpec]:
        """The ``metrics`` endpoint when ``--metrics-addr`` is given (first in the tree: a
        taken port stops the start at once): transport counters and this node's tasks,
        plus ``extra()`` (a manager's store and Raft)."""
        config = self.setup.config
        if config.metrics_addr is None:
            return []

        def collectors(ctx: ChildContext) -> Sequence[Collector]:
            peers = ctx.peers

            def statuses() -> Sequence[tuple[str, TaskStatus]] | None:
                ref = peers.find("worker")
                if ref is None:
                    return None
                try:
                    return WorkerSink(ref, timeout=2.0).current_statuses()
                except (pykka.ActorDeadError, pykka.Timeout):
                    return None

            return [TransportCollector(), NodeTasksCollector(statuses), *extra()]

        return [metrics_child(config.metrics_addr, collectors, stop_timeout=config.stop_timeout)]

    def engine_children(self) -> list[ChildSpec]:
        """The ``engine`` endpoint when ``--engine-api`` is given: the Docker Engine API
        over this node's own control socket (a worker's refuses as Docker's does), over TLS
        with ``--engine-api-tls`` (a bad TLS directory stops the start: NodeError)."""
        config = self.setup.config
        if config.engine_api is None:
            return []
        tls_dir = config.engine_api_tls
        address = check_engine_address(config.engine_api, tls=tls_dir is not None)
        context = None
        if tls_dir is not None:
            try:
                context = engine_tls_context(tls_dir, self.setup.startup.certs.roots_pem)
            except EngineTLSError as exc:
                raise NodeError(str(exc)) from None
        if not address.is_unix and context is None:
            _log.warning(
                "node.engine_api.unauthenticated",
                address=address.url(),
                reason="a TCP Engine API without --engine-api-tls: every local user can "
                "control the cluster through it",
            )
        return [
            engine_api_child(
                address, config.control_bind, ssl_context=context, stop_timeout=config.stop_timeout
            )
        ]

    def worker_child(self) -> ChildSpec:
        setup = self.setup
        keys = setup.startup.keys
        state_dir, node_id = setup.config.state_dir, setup.identity.node_id

        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            # restarted on another executor: the one before leaves nothing running
            switch_executor(
                state_dir,
                setup.executor,
                lambda kind: make_executor(kind, state_dir=state_dir, node_id=node_id),
            )
            executor = make_executor(
                setup.executor,
                state_dir=state_dir,
                node_id=node_id,
                sandbox=setup.sandbox,
                resources=self.resources,
                publish_ip=setup.config.publish_addr,
                files=self.files,
                description=setup.description,
            )
            return Worker.start(
                ctx,
                executor=executor,
                state_dir=state_dir,
                node_id=node_id,
                reporter=self.outbox,
                state_cipher=keys.worker_state_cipher() if keys is not None else None,
            )

        return ChildSpec("worker", start, stop_timeout=setup.config.stop_timeout * 2)

    def agent_child(self) -> ChildSpec:
        setup = self.setup

        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            peers = ctx.peers
            self._peers = peers
            return Agent.start(
                ctx,
                node_id=setup.identity.node_id,
                keypair=setup.identity.keypair,
                managers=self.managers(),
                sink=WorkerSink(lambda: peers.get("worker")),
                description=setup.description,
                statuses=self.outbox,
                dependencies=self.dependencies,
                source=setup.source,
                on_role=self._session_role_seen,
                on_ca=self._session_ca_seen,
                on_managers=self._session_managers_seen,
                refresh_managers=self.managers,
                resources=self.resources,
                on_removed=setup.on_removed,
                on_ingress=self.ingress.set,
                tls_info=lambda: self.tls_info,
            )

        return ChildSpec("agent", start, stop_timeout=setup.config.stop_timeout)

    def mesh_child(self) -> ChildSpec:
        host = self.setup.config.mesh_addr

        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            return Mesh.start(ctx, host, self.ingress)

        return ChildSpec("mesh", start, stop_timeout=self.setup.config.stop_timeout)

    def publisher_child(self) -> ChildSpec:
        setup = self.setup

        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            peers = ctx.peers
            return LogPublisher.start(
                ctx,
                node_id=setup.identity.node_id,
                keypair=setup.identity.keypair,
                managers=self.managers,
                tasks=WorkerTasks(lambda: peers.find("worker")),
                events=NodeEvents(),
                session_manager=lambda: _session_manager(peers),
                source=setup.source,
            )

        return ChildSpec("logs", start, stop_timeout=setup.config.stop_timeout)

    def renewer_child(self) -> ChildSpec:
        setup, store = self.setup, self._store_settings
        return ChildSpec(
            "renewer",
            start_actor(
                CertRenewer,
                state_dir=setup.config.state_dir,
                certs=self.node_certs,
                managers=self._renewal_managers,
                settings=self._settings,
                watch_settings=store.watch if store is not None else None,
                on_renewed=self.cert_renewed,
                source=setup.source,
            ),
            stop_timeout=setup.config.stop_timeout,
        )

    # -- following the role ---------------------------------------------------------------
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

    def _session_ca_seen(self, trust: Any) -> None:
        """A heartbeat named the cluster's roots (actors/ca/rotation.py): when they changed,
        the renewer looks again (renew under a new root, drop a root no longer trusted). A
        manager's renewer reads the roots from its own store, which may not have applied
        the change yet: it looks again when the store does (``watch_settings``)."""
        try:
            issuer = str(trust["issuer"])
            roots = tuple(str(r) for r in trust["roots"])
        except (KeyError, TypeError):
            return
        if len(roots) > MAX_TRUSTED_ROOTS or any(len(d) > 64 for d in (issuer, *roots)):
            return  # not what a manager sends
        seen = (issuer, roots)
        if seen == self.session_ca:
            return
        self.session_ca = seen
        _log.info("node.ca.seen", issuer=issuer, roots=list(roots))
        peers = self._peers
        renewer = peers.find("renewer") if peers is not None else None
        if renewer is not None:
            renewer.tell(CHECK_NOW)

    def _session_managers_seen(self, managers: Sequence[ManagerAddress]) -> None:
        """Keep STATE_DIR/managers.json (and a worker's list) as the leader says, without
        this node, each entry with the Raft id and certificate this node knows of it."""
        own = self.setup.identity.keypair.public.decode("ascii")
        known = {str(m.get("server_key")): m for m in self.directory.entries()}
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
        if self._follow:
            self.directory.set_seeds(entries)
        state_dir = self.setup.config.state_dir
        if entries != [dict(m) for m in read_managers(state_dir)]:
            write_managers(state_dir, entries)
            _log.info("node.managers.saved", managers=len(entries))

    def _renewal_managers(self) -> Sequence[ManagerAddress]:
        return renewal_managers(self.managers(), running=self.role, session_role=self.session_role)

    def _settings(self) -> RenewalSettings:
        read = self._store_settings
        stored = read() if read is not None else RenewalSettings()
        role = renewal_role(self.session_role, stored.role, self.node_certs.info.role)
        issuer, roots = stored.issuer, stored.roots  # a manager's store, else the session's
        if issuer is None and self.session_ca is not None:
            issuer, roots = self.session_ca
        return RenewalSettings(
            role=role, cert_expiry=stored.cert_expiry, issuer=issuer, roots=roots
        )

    def cert_renewed(self, certs: NodeCertificates) -> None:
        """The CA service's hello serves the new certificate; a manager indexes it now; the
        agent reports it (and the roots trusted now) at its next heartbeat. A certificate
        of the other role restarts the node in that role."""
        self.node_certs = certs
        self.tls_info = node_tls_info(certs)
        if self._admission is not None:
            self._admission.add_certificate(certs.cert_pem, certs.info.role)
        restart = role_restart(self.role, certs.info.role)
        if restart is not None:
            _log.info("node.role.changing", role=restart.value, running=self.role.value)
            self.setup.on_role_change(certs)


def _session_manager(peers: Directory) -> str:
    """The address of the manager the agent has its session with ("" when none)."""
    agent = peers.find("agent")
    if agent is None:
        return ""
    try:
        state: AgentState = agent.proxy().state().get(timeout=2.0)
    except (pykka.ActorDeadError, pykka.Timeout):
        return ""
    return state.manager if state.connected else ""
