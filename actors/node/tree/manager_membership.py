"""A manager's place in the Raft group, from its own side: what `ManagerParts`
(actors/node/tree/manager_parts.py) hands its Raft child to open the storage with, and
what it does when it is turned away or told it was removed.

- The bootstrap voters (the configuration the Raft log starts from): the founder's own
  Raft id on the founder (written at once); on a joined manager what the leader's
  ``raft.join`` reply said, kept in STATE_DIR (actors/node/startup/state_dir.py). A joined
  manager's first start asks for them before its storage exists (`voters`, on the Raft
  child's thread: actors/node/membership/join.py), for at most `RAFT_JOIN_TIMEOUT` (no
  request outlasts it); the node's stop ends that wait (`StopRequested`).
- Start timeouts, each derived from the one inside it, so the join's own timeout and
  refusals are what a failed start says: the Raft child starts within
  `RAFT_START_TIMEOUT` (the join, then `RAFT_OPEN_TIMEOUT` to open the storage; a
  resume, which asks nothing, opens and replays its log within the whole of it), and
  the node waits for its tree as long as its children's start timeouts allow
  (actors/node/tree/node.py `start_wait`).
- A refused join (``unauthorized``: demoted while it was down, before it ever joined)
  renews the certificate from the other managers (within the join's deadline, however
  many are silent), at most once every `JOIN_RENEW_INTERVAL`; a worker certificate ends
  the start (`NoLongerManager`), and the runner starts the node again as a worker.
- Told by another manager that its member was removed from the group, the manager keeps
  that manager first in its list and has the runner rejoin it (actors/node/runner.py),
  unless the removal is its demotion.
- Its admission must know the other managers' certificates before the store has any:
  their Raft messages, which fill the store, are refused from a key it holds no
  certificate of. It starts with those it kept (`admit_managers`: its own join, its
  sessions' list), which a node promoted long after it joined may lack (a manager that
  joined later) or hold only stale (of a root rotated away since): an accepted
  ``raft.join`` adds the certificates the leader's reply names, from its store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from actors.ca.authorization import ClusterAdmission
from actors.ca.certs import CertificateError
from actors.ca.renewal_reply import RenewalFailed
from actors.ca.renewal_request import REQUEST_TIMEOUT as RENEWAL_TIMEOUT
from actors.ca.renewal_request import request_renewal
from actors.log import get_logger
from actors.node.membership.join import JoinAsker, NoLongerManager, keep_remover_first
from actors.node.membership.join_policy import removal_is_demotion
from actors.node.startup.state_dir import (
    RAFT_DIR,
    read_bootstrap_voters,
    write_bootstrap_voters,
)
from actors.node.tree.managers import ManagerDirectory
from actors.node.tree.parts_setup import PartsSetup
from actors.node.tree.shared_parts import SharedParts
from actors.store import MemoryStore, nodes
from api.enums import NodeRole

__all__ = [
    "JOIN_RENEW_INTERVAL",
    "RAFT_JOIN_TIMEOUT",
    "RAFT_OPEN_TIMEOUT",
    "RAFT_START_TIMEOUT",
    "RaftMembership",
    "admit_managers",
]

RAFT_JOIN_TIMEOUT: Final = 50.0  # a joined manager's first start asks raft.join this long
# past the join: its last reply's grace (actors/stoppable.py) and opening the new storage
RAFT_OPEN_TIMEOUT: Final = 10.0
RAFT_START_TIMEOUT: Final = RAFT_JOIN_TIMEOUT + RAFT_OPEN_TIMEOUT  # the Raft child's start
JOIN_RENEW_INTERVAL: Final = 5.0  # a refused join renews the certificate at most this often

_log = get_logger("node")


def admit_managers(admission: ClusterAdmission, managers: Iterable[Mapping[str, Any]]) -> None:
    """Index the certificates of ``managers`` (manager list entries) as managers', each
    checked against the roots this node trusts; one it cannot take (of a root no longer
    trusted) is logged and skipped."""
    for m in managers:
        cert = m.get("certificate")
        if not cert:
            continue
        try:
            admission.add_certificate(str(cert).encode("ascii"), NodeRole.MANAGER)
        except (CertificateError, ValueError) as exc:
            _log.warning("node.admission.seed_skipped", manager=m.get("addr"), error=str(exc))


class RaftMembership:
    """One manager's membership of the Raft group (see the module docstring)."""

    def __init__(
        self,
        setup: PartsSetup,
        raft_id: int,
        store: MemoryStore,
        directory: ManagerDirectory,
        shared: SharedParts,
        admission: ClusterAdmission,
    ) -> None:
        self.setup = setup
        self.raft_id = raft_id
        self.store = store
        self.directory = directory
        self.shared = shared
        self.admission = admission
        self._join_renewed_at = -JOIN_RENEW_INTERVAL  # when a refused join last renewed
        self._join_deadline = 0.0  # the first start's join ends by then (monotonic)
        startup = setup.startup
        # the founder bootstraps a one-member group; a joined manager starts empty and is
        # added by the leader (actors/node/membership/join.py)
        self.founder = startup.mode == "init" or (
            startup.mode == "resume" and startup.initial_cluster.cluster is not None
        )
        self.bootstrap_voters = self._load_bootstrap()

    def _load_bootstrap(self) -> tuple[int, ...] | None:
        """The group's bootstrap voters: the founder's own id on the founder; on a joined
        manager what the leader said (None: not yet)."""
        state_dir = self.setup.config.state_dir
        voters = read_bootstrap_voters(state_dir)
        if voters is None and self.founder:
            voters = (self.raft_id,)
            write_bootstrap_voters(state_dir, voters)
        return voters

    def voters(self) -> tuple[int, ...]:
        """What the Raft storage opens with (on the Raft child's thread): the bootstrap
        voters, none once the log exists, or, on a joined manager's first start, what
        its accepted join says (`StopRequested` if the node stops meanwhile)."""
        voters = self.bootstrap_voters
        if voters is not None:
            return voters
        return () if (self.setup.config.state_dir / RAFT_DIR).exists() else self._join_raft()

    def _join_raft(self) -> tuple[int, ...]:
        """First start of a joined manager: be added by the leader and learn the bootstrap
        voters before the storage is created (actors/node/membership/join.py)."""
        self._join_deadline = time.monotonic() + RAFT_JOIN_TIMEOUT
        reply = self.join_asker(self.setup.stopping).until_accepted(
            self._join_deadline, on_refused=self._join_refused
        )
        voters = tuple(int(v) for v in reply.get("voters") or ())
        managers = reply.get("managers") or ()
        self.directory.add_seeds(managers)
        admit_managers(self.admission, managers)  # before the leader's first Raft message
        if not voters:
            raise RuntimeError("the leader did not say the group's bootstrap voters")
        write_bootstrap_voters(self.setup.config.state_dir, voters)
        self.bootstrap_voters = voters
        return voters

    def _join_refused(self, refusal: str) -> None:
        """A manager refused this node's ``raft.join`` as no manager's (demoted while it
        was down, before it ever joined Raft): renew the certificate, at most once every
        `JOIN_RENEW_INTERVAL`, from the other managers (this one's CA is not up), into the
        role the cluster gives the node. A worker certificate ends this start
        (`NoLongerManager`): the runner starts the node again as a worker."""
        now = time.monotonic()
        if now < self._join_renewed_at + JOIN_RENEW_INTERVAL or now >= self._join_deadline:
            return
        self._join_renewed_at = now
        own = self.setup.identity.keypair.public
        others = [m for m in self.shared.managers() if m.server_key != own]
        _log.info("raft.join.refused", reason=refusal[:200], renewing=len(others))
        try:
            certs = request_renewal(
                self.setup.config.state_dir,
                self.shared.node_certs,
                others,
                timeout=RENEWAL_TIMEOUT,
                deadline=self._join_deadline,  # the whole renewal ends within the join's
                halt=self.setup.stopping,
                source=self.setup.source,
            )
        except RenewalFailed as exc:
            _log.warning("raft.join.renewal_failed", code=exc.code, reason=exc.reason[:300])
            return
        _log.info("raft.join.renewed", role=certs.info.role.value)
        if certs.info.role is not NodeRole.MANAGER:
            raise NoLongerManager(certs)
        self.shared.cert_renewed(certs)

    def removed(self, by: int) -> None:
        """Another manager says this one's Raft member was removed from the group: the
        runner rejoins it under a new Raft id (actors/node/runner.py), unless it is being
        demoted (`removal_is_demotion`): its worker certificate restarts it as a worker."""
        identity = self.setup.identity
        own = self.store.view(lambda tx: nodes.get(tx, identity.node_id))
        if removal_is_demotion(own):
            _log.info("node.raft.removed", by=by, raft_id=self.raft_id, demoted=True)
            return
        _log.warning("node.raft.removed", by=by, raft_id=self.raft_id)
        own_key = identity.keypair.public.decode("ascii")
        entries = self.directory.entries()
        keep_remover_first(self.setup.config.state_dir, entries, by, own_key=own_key)
        if self.setup.on_raft_removed is not None:
            self.setup.on_raft_removed()

    def join_asker(self, stop: threading.Event | None = None) -> JoinAsker:
        """``stop`` ends its waits: the node's, for the first start's join (the periodic
        joiner's asks end with their actor)."""
        setup = self.setup
        return JoinAsker(
            node_id=setup.identity.node_id,
            raft_id=self.raft_id,
            advertise=setup.config.advertise_addr,
            keypair=setup.identity.keypair,
            managers=self.directory.entries,
            source=setup.source,
            stop=stop,
        )
