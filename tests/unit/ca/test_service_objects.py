"""The object-model fields the CA service owns: Node.certificate and Cluster.revoked."""

from __future__ import annotations

from api.codec_objects import decode_object, encode_object
from api.objects import Cluster, Node, ObjectKind, RevokedCertificate


def test_node_certificate_round_trips() -> None:
    node = Node(id="a" * 25, certificate=b"-----BEGIN CERTIFICATE-----\n...")
    assert decode_object(ObjectKind.NODE, encode_object(node)) == node


def test_cluster_revocations_round_trip() -> None:
    revoked = RevokedCertificate(
        node_id="b" * 25,
        serial=format(2**126 + 5, "x"),
        curve_public_key="k" * 40,
        not_after=1_700_000_000.5,
        reason="node removed",
    )
    cluster = Cluster(id="c" * 25, revoked=(revoked,))
    assert decode_object(ObjectKind.CLUSTER, encode_object(cluster)) == cluster


def test_objects_stored_before_the_fields_existed_still_decode() -> None:
    node = encode_object(Node(id="a" * 25))
    del node["certificate"]
    cluster = encode_object(Cluster(id="c" * 25))
    del cluster["revoked"]
    assert decode_object(ObjectKind.NODE, node) == Node(id="a" * 25)
    assert decode_object(ObjectKind.CLUSTER, cluster) == Cluster(id="c" * 25)
