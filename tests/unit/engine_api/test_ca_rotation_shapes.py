"""The Engine API's side of a root CA rotation (pure): what ``docker swarm ca --rotate``
sends becomes a control.cluster.ca body, and the swarm's and nodes' TLSInfo name the new
root as the desired issuer while the rotation is under way (Docker's progress counts them)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from actors.ca.root import CertificateAuthority, create_root_ca, load_root_ca
from actors.ca.rotation import start_rotation
from actors.ca.tokens import ca_digest
from actors.control.views import cluster_document, node_document
from actors.engine_api.errors import EngineError
from actors.engine_api.objects import docker_node, docker_swarm, root_pems_of, rotation_cert_of
from actors.engine_api.swarm_update import ca_rotation_body, cluster_changes
from api.objects import Cluster, Node, NodeDescription, NodeTLSInfo
from tests.unit.ca.test_tls_info import report

NOW = 1_700_000_000.0


def _cluster(rotating: bool = False) -> tuple[Cluster, CertificateAuthority]:
    rng = random.Random(5)
    old = create_root_ca(NOW, rng)
    root_ca = old.to_api()
    if rotating:
        root_ca = start_rotation(root_ca, old, now=NOW, rng=rng, force_rotate=1)
    return Cluster(id="c1", root_ca=root_ca), old


def _spec(current: Any, **ca_config: Any) -> dict[str, Any]:
    spec: dict[str, Any] = docker_swarm(current)["Spec"]
    spec["CAConfig"] = {**spec["CAConfig"], **ca_config}
    return spec


def test_force_rotate_raised_asks_for_a_rotation_and_nothing_else() -> None:
    current = cluster_document(_cluster()[0])
    assert ca_rotation_body(current, _spec(current)) is None  # docker swarm update
    spec = _spec(current, ForceRotate=1)
    assert ca_rotation_body(current, spec) == {"rotate": True}
    assert cluster_changes(current, spec) == {}


def test_the_operators_root_goes_with_its_key_and_an_external_ca_is_refused() -> None:
    current = cluster_document(_cluster()[0])
    spec = _spec(current, SigningCACert="CERT", SigningCAKey="KEY")
    assert ca_rotation_body(current, spec) == {
        "rotate": True,
        "ca_cert": b"CERT",
        "ca_key": b"KEY",
    }
    for ca_config, words in (
        ({"SigningCACert": "CERT"}, "--ca-cert without --ca-key"),
        ({"ExternalCAs": [{"Protocol": "cfssl", "URL": "https://x"}]}, "--external-ca"),
    ):
        with pytest.raises(EngineError) as refused:
            ca_rotation_body(current, _spec(current, **ca_config))
        assert refused.value.status == 501 and words in str(refused.value)


def test_during_a_rotation_the_desired_issuer_is_the_new_root() -> None:
    cluster, old = _cluster(rotating=True)
    rotation = cluster.root_ca.root_rotation
    assert rotation is not None
    new = load_root_ca(rotation.ca_cert, rotation.ca_key, now=NOW)
    current = cluster_document(cluster)
    swarm = docker_swarm(current)
    assert swarm["RootRotationInProgress"] is True
    assert swarm["TLSInfo"]["TrustRoot"] == old.cert_pem.decode()  # still the current root
    assert rotation_cert_of(current) == rotation.ca_cert.decode()
    roots = {ca_digest(pem.encode()): pem for pem in root_pems_of(current)}
    assert set(roots) == {old.digest, new.digest}

    def tls(tls_info: NodeTLSInfo) -> dict[str, str]:
        node = Node(id="n1", description=NodeDescription(tls_info=tls_info))
        return dict(docker_node(node_document(node), roots)["Description"]["TLSInfo"])

    renewed = tls(report(new, old, new))
    issuer = ("CertIssuerSubject", "CertIssuerPublicKey")
    assert [renewed[k] for k in issuer] == [swarm["TLSInfo"][k] for k in issuer]  # counted
    assert renewed["TrustRoot"] == old.cert_pem.decode() + new.cert_pem.decode()  # both
    on_old = tls(report(old))
    assert on_old["CertIssuerPublicKey"] != swarm["TLSInfo"]["CertIssuerPublicKey"]
    done = cluster_document(_cluster()[0])
    assert docker_swarm(done)["RootRotationInProgress"] is False
