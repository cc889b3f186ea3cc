"""How a node gets its cluster identity before anything starts: init, join or resume.

`prepare_node` decides from the state dir and the flags:

- **resume**: the state dir holds a node certificate (`actors.ca.node_certs`): load and
  check it; the role is the certificate's. ``--join-addr`` is then ignored (logged), but
  a ``--join-token`` that is malformed or names another cluster's CA is refused
  (`refuse_foreign_join`, before a locked key store is waited on): the operator meant to
  join that cluster, and the node would silently stay in its own. A
  manager's key store is opened (and unlocked, when autolocked) *before*: its private keys
  may be in it (``keys``, `actors.node.startup.keys.NodeKeys`, see `actors.node.startup.at_rest`).
- **join**: ``--join-addr``/``--join-token`` and no certificate: run the join client
  (`actors.ca.join.join_cluster`: the CA pinned by the token's digest before anything is
  trusted); the certificate, keys and node id land in the state dir. Failures raise
  `JoinError`, whose message ``swarm-node`` prints before exiting non-zero. A node that
  joined as a manager gets its key store then (not locked: it follows the cluster's
  autolock once its store holds the Cluster object).
- **init**: neither: bootstrap the cluster's security (`bootstrap_cluster_security`: root
  CA, join tokens, this manager's certificate binding its existing CURVE key), write the
  node's certificate (its private keys through the key store: inside it when autolocked),
  and keep the new Cluster object (with the CA key) in the key store (`INITIAL_CLUSTER`,
  wrapped like the data key) until the leader group has written it to the store
  (`InitialCluster.committed` removes it), so a crash in between loses nothing and the CA
  key is never on disk in the clear. (Older versions kept it in STATE_DIR/cluster_init.json:
  such a file is moved into the key store and deleted at the next start.)

The manager list (STATE_DIR/managers.json, 0600) is what a node knows about the managers
from its join reply (later from the store or its sessions): ``addr`` (tcp://), CURVE
``server_key``, ``raft_id`` and ``certificate`` (PEM) of each. A worker's agent and a
joining manager's Raft start from it after a restart.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography import x509

from actors.ca.bootstrap import bootstrap_cluster_security
from actors.ca.join import JoinError, join_cluster
from actors.ca.keystore import INITIAL_CLUSTER
from actors.ca.node_certs import (
    CA_CERT_FILE,
    CERTS_DIR,
    NodeCertificates,
    NodeCertsError,
    load_node_certs,
    node_certs_exist,
    retired_root_digests,
    write_node_certs,
)
from actors.ca.node_identity import IdentityError, NodeIdentity
from actors.ca.tokens import (
    JoinTokenError,
    WrongClusterToken,
    ca_digest,
    check_token_ca,
    parse_join_token,
)
from actors.durable import write_durable
from actors.log import get_logger
from actors.node.startup.keys import KEYSTORE_DIR, NodeKeys, open_node_keys
from actors.node.startup.state_dir import INIT_FILE, load_or_create_identity
from api.enums import NodeRole
from api.ids import new_id
from api.objects import Cluster, JoinTokens, RootCA
from api.specs import ClusterSpec

__all__ = [
    "INIT_FILE",
    "MANAGERS_FILE",
    "InitialCluster",
    "JoinError",
    "NodeStartup",
    "prepare_node",
    "read_managers",
    "refuse_foreign_join",
    "write_managers",
]

MANAGERS_FILE: Final = "managers.json"

ManagerEntry = Mapping[str, str]

_log = get_logger("node")


class InitialCluster:
    """The Cluster object cluster init created, until the store holds it (kept in the key
    store as `INITIAL_CLUSTER`: it holds the CA key)."""

    def __init__(
        self, keys: NodeKeys | None, cluster: Cluster | None, legacy_path: Path | None = None
    ) -> None:
        self.keys = keys
        self.cluster = cluster
        self._legacy_path = legacy_path

    def committed(self) -> None:
        """The store holds the cluster now: forget the copy (it holds the CA key)."""
        if self.cluster is not None:
            if self.keys is not None:
                self.keys.remove_secret(INITIAL_CLUSTER)
            if self._legacy_path is not None:
                self._legacy_path.unlink(missing_ok=True)
            self.cluster = None

    @classmethod
    def keep(cls, keys: NodeKeys, cluster: Cluster) -> InitialCluster:
        """Store ``cluster`` in the key store until `committed`."""
        keys.set_secret(INITIAL_CLUSTER, encode_initial_cluster(cluster))
        return cls(keys, cluster)

    @classmethod
    def read(cls, keys: NodeKeys | None, legacy_path: Path) -> InitialCluster:
        """The cluster waiting in the key store, if any; a legacy plain file
        (cluster_init.json) is moved into the key store and deleted."""
        if legacy_path.exists():
            try:
                cluster = decode_initial_cluster(legacy_path.read_bytes())
            except (OSError, IdentityError) as exc:
                raise IdentityError(f"{legacy_path}: {exc}") from None
            if keys is None:
                return cls(None, cluster, legacy_path)
            keys.set_secret(INITIAL_CLUSTER, encode_initial_cluster(cluster))
            legacy_path.unlink()
            return cls(keys, cluster)
        doc = keys.secrets.get(INITIAL_CLUSTER) if keys is not None else None
        if doc is None:
            return cls(keys, None)
        return cls(keys, decode_initial_cluster(doc))


def encode_initial_cluster(cluster: Cluster) -> bytes:
    doc = {
        "id": cluster.id,
        "name": cluster.spec.name,
        "ca_cert": cluster.root_ca.ca_cert.decode("ascii"),
        "ca_key": cluster.root_ca.ca_key.decode("ascii"),
        "ca_cert_hash": cluster.root_ca.ca_cert_hash,
        "worker": cluster.join_tokens.worker,
        "manager": cluster.join_tokens.manager,
    }
    return json.dumps(doc).encode()


def decode_initial_cluster(data: bytes) -> Cluster:
    try:
        doc = json.loads(data)
        return Cluster(
            id=str(doc["id"]),
            spec=ClusterSpec(name=str(doc["name"])),
            root_ca=RootCA(
                ca_cert=str(doc["ca_cert"]).encode("ascii"),
                ca_key=str(doc["ca_key"]).encode("ascii"),
                ca_cert_hash=str(doc["ca_cert_hash"]),
            ),
            join_tokens=JoinTokens(worker=str(doc["worker"]), manager=str(doc["manager"])),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise IdentityError(f"the cluster kept from init is damaged: {exc}") from None


@dataclass(frozen=True)
class NodeStartup:
    """Everything about the node's place in the cluster that its parts need."""

    identity: NodeIdentity
    certs: NodeCertificates
    managers: tuple[ManagerEntry, ...]
    initial_cluster: InitialCluster
    mode: str  # init | join | resume
    keys: NodeKeys | None = None  # a manager's key store, unlocked

    @property
    def role(self) -> NodeRole:
        return self.certs.info.role

    @property
    def cluster_id(self) -> str:
        return self.certs.info.cluster_id


def read_managers(state_dir: Path) -> tuple[ManagerEntry, ...]:
    path = Path(state_dir) / MANAGERS_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as exc:
        _log.warning("node.managers.unreadable", path=str(path), error=str(exc))
        return ()
    if not isinstance(doc, list):
        return ()
    return tuple(
        {str(k): str(v) for k, v in m.items()}
        for m in doc
        if isinstance(m, dict) and m.get("addr") and m.get("server_key")
    )


def write_managers(state_dir: Path, managers: Sequence[ManagerEntry]) -> None:
    entries = [dict(m) for m in managers if m.get("addr") and m.get("server_key")]
    if entries:
        write_durable(Path(state_dir) / MANAGERS_FILE, json.dumps(entries).encode())


def _load(state_dir: Path, clock: Callable[[], float], keys: NodeKeys | None) -> NodeCertificates:
    try:
        return load_node_certs(state_dir, now=clock(), vault=keys)
    except NodeCertsError as exc:
        raise IdentityError(str(exc)) from None


def refuse_foreign_join(state_dir: Path, join_token: str | None) -> None:
    """Raise `JoinError` when ``join_token`` is given for a state dir that already holds a
    node and is malformed, or pins another cluster's CA than the state dir's (a state dir
    of another cluster: SwarmKit's token digest names the root CA)."""
    if not join_token or not node_certs_exist(state_dir):
        return
    ca_file = Path(state_dir) / CERTS_DIR / CA_CERT_FILE
    try:
        roots = x509.load_pem_x509_certificates(ca_file.read_bytes())
        known = {ca_digest(root) for root in roots} | set(retired_root_digests(state_dir))
        if parse_join_token(join_token).ca_digest in known:
            return  # this cluster's token (perhaps of a root since rotated): resume
        check_token_ca(join_token, roots[0])
    except WrongClusterToken:
        raise JoinError(
            "wrong_cluster",
            f"the state dir {state_dir} already holds a node of another cluster than the "
            "--join-token's (its CA does not match the digest in the token): give a new "
            "--state-dir to join that cluster, or leave out --join-addr and --join-token "
            "to resume this node",
        ) from None
    except JoinTokenError as exc:
        raise JoinError("invalid_token", f"--join-token: {exc}") from None
    except (OSError, ValueError, NodeCertsError) as exc:
        raise IdentityError(f"cannot read the CA certificate {ca_file}: {exc}") from None


def prepare_node(
    state_dir: Path,
    *,
    hostname: str,
    advertise_addr: str,
    join_addr: str | None = None,
    join_token: str | None = None,
    join_timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
    keys: NodeKeys | None = None,
    source: str | None = None,
    stop: threading.Event | None = None,
) -> NodeStartup:
    """Resume, join or init (see the module docstring). ``keys``: the manager's unlocked
    key store when it has one (`actors.node.startup.at_rest.open_at_rest`); init without it creates
    one, not locked. Raises `JoinError` when joining fails, `IdentityError` when the state
    dir cannot be used, `actors.node.startup.keys.NodeKeysError` when the key store cannot;
    `actors.stoppable.StopRequested` when ``stop`` ends the join (actors/ca/join.py)."""
    state_dir = Path(state_dir)
    init_file = state_dir / INIT_FILE
    if node_certs_exist(state_dir):
        refuse_foreign_join(state_dir, join_token)
        if join_addr:
            _log.warning("node.join.ignored", reason="the state dir already holds a node")
        if keys is None and (state_dir / KEYSTORE_DIR).exists():
            keys = _open_keys(state_dir)  # a manager's, not locked (else: unlock it first)
        load_or_create_identity(state_dir, keys)  # checks the node id and key files first
        certs = _load(state_dir, clock, keys)
        return NodeStartup(
            NodeIdentity(certs.node_id, certs.keypair),
            certs,
            read_managers(state_dir),
            InitialCluster.read(keys, init_file),
            "resume",
            keys,
        )
    if join_addr:
        if not join_token:
            raise JoinError("invalid_token", "--join-addr needs --join-token")
        result = join_cluster(
            join_addr,
            join_token,
            state_dir=state_dir,
            hostname=hostname,
            advertise_addr=advertise_addr,
            timeout=join_timeout,
            clock=clock,
            source=source,
            stop=stop,
        )
        write_managers(state_dir, result.managers)
        certs = _load(state_dir, clock, keys)
        if certs.info.role is NodeRole.MANAGER and keys is None:
            keys = _open_keys(state_dir)
            certs = _load(state_dir, clock, keys)
        return NodeStartup(
            NodeIdentity(certs.node_id, certs.keypair),
            certs,
            tuple(result.managers),
            InitialCluster(keys, None),
            "join",
            keys,
        )
    if keys is None:
        keys = _open_keys(state_dir)
    identity = load_or_create_identity(state_dir, keys)
    rng = secrets.SystemRandom()
    cluster_id = new_id(rng)
    security = bootstrap_cluster_security(
        clock(),
        rng,
        cluster_id=cluster_id,
        node_id=identity.node_id,
        curve_public_key=identity.keypair.public,
    )
    cluster = security.cluster(Cluster(id=cluster_id, spec=ClusterSpec(name="default")))
    initial = InitialCluster.keep(keys, cluster)
    write_node_certs(
        state_dir,
        node_id=identity.node_id,
        ca_cert=security.ca.cert_pem,
        cert=security.node_cert.cert_pem,
        key=security.node_key,
        keypair=identity.keypair,
        vault=keys,
    )
    # the process's lines carry the node id from the start-up's end; this one has it already
    _log.info("node.cluster.initialized", cluster_id=cluster_id, node_id=identity.node_id)
    certs = _load(state_dir, clock, keys)
    return NodeStartup(identity, certs, (), initial, "init", keys)


def _open_keys(state_dir: Path) -> NodeKeys:
    """A new (or the existing, not locked) key store of a manager."""
    opened = open_node_keys(state_dir)
    if not isinstance(opened, NodeKeys):
        raise IdentityError(f"the key store in {state_dir} is locked: it must be unlocked first")
    return opened


def manager_entry(addr: str, server_key: bytes, raft_id: int, certificate: bytes) -> dict[str, Any]:
    """One manager-list entry (all strings, as the wire's manager address allows extras)."""
    return {
        "addr": addr,
        "server_key": server_key.decode("ascii"),
        "raft_id": str(raft_id),
        "certificate": certificate.decode("ascii"),
    }
