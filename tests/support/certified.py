"""A cluster's certificate authority and admission index, in this process, for tests that
serve real endpoints without running whole nodes.

    cluster = CertifiedCluster()
    keys = generate_keypair()
    node_id = cluster.certify(keys, NodeRole.WORKER)   # a certificate binding the key
    endpoint = Endpoint(addr, cluster.guard(table), keypair=..., admission=cluster.admission)

The CA, the certificates and `ClusterAdmission` are the real ones (actors/ca); only the
store the CA service would keep them in is left out: ``certify`` indexes the certificate
the way ``ca.join`` does.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping

from actors.ca.authorization import ClusterAdmission, authorize
from actors.ca.certs import IssuedCertificate, create_csr, generate_node_key, issue_node_certificate
from actors.ca.root import CertificateAuthority, create_root_ca
from actors.log import get_logger
from api.enums import NodeRole
from api.ids import new_id
from transport.endpoint import Handler
from transport.keys import KeyPair

__all__ = ["CertifiedCluster"]


class CertifiedCluster:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self.cluster_id = new_id(self._rng)
        self.ca: CertificateAuthority = create_root_ca(time.time(), self._rng)
        self.admission = ClusterAdmission(
            self.ca.cert, self.cluster_id, clock=time.time, logger=get_logger("ca")
        )

    def issue(self, keys: KeyPair, role: NodeRole, node_id: str | None = None) -> IssuedCertificate:
        """A certificate for ``keys`` (not indexed)."""
        return issue_node_certificate(
            self.ca,
            create_csr(generate_node_key(), keys.public),
            node_id=node_id or new_id(self._rng),
            role=role,
            cluster_id=self.cluster_id,
            now=time.time(),
            rng=self._rng,
        )

    def certify(
        self, keys: KeyPair, role: NodeRole = NodeRole.WORKER, node_id: str | None = None
    ) -> str:
        """Issue and index a certificate for ``keys``; returns its node id."""
        issued = self.issue(keys, role, node_id)
        self.admission.add_issued(issued.info, role, self.ca.cert)
        return issued.info.node_id

    def remove(self, node_id: str) -> None:
        """``node rm``: the node's keys are refused from now on."""
        self.admission.remove_node(node_id)

    def guard(self, table: Mapping[str, Handler]) -> dict[str, Handler]:
        """``table`` behind per-request authorization, as a manager serves it."""
        return authorize(table, self.admission)
