"""Renewal: a random point within [50 %, 80 %] of the lifetime, and the reasons to renew now."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from actors.ca.certs import NodeCertInfo
from actors.ca.renewal import (
    changes_renewal_settings,
    renewal_delay,
    renewal_reason,
    renewal_time,
)
from api.enums import NodeRole
from api.objects import Cluster, Node, RootCA, RootRotation, Service
from api.specs import CAConfig, ClusterSpec

INFO = NodeCertInfo(
    node_id="n" * 25,
    role=NodeRole.WORKER,
    cluster_id="c" * 25,
    curve_public_key=b"k" * 40,
    serial=1,
    not_before=1000.0,
    not_after=1000.0 + 90 * 86400,
)


@pytest.mark.parametrize("seed", range(200))
def test_within_window(seed: int) -> None:
    at = renewal_time(INFO.not_before, INFO.not_after, random.Random(seed))
    assert INFO.not_before + 0.5 * INFO.lifetime <= at <= INFO.not_before + 0.8 * INFO.lifetime


def test_spreads_over_window() -> None:
    rng = random.Random(0)
    fractions = [(renewal_time(0.0, 100.0, rng) - 0.0) / 100.0 for _ in range(1000)]
    assert min(fractions) < 0.52 and max(fractions) > 0.78


def test_same_seed_same_time() -> None:
    assert renewal_time(0, 3600, random.Random(3)) == renewal_time(0, 3600, random.Random(3))


def test_delay_never_negative() -> None:
    assert renewal_delay(INFO, INFO.not_after + 1, random.Random(0)) == 0.0
    delay = renewal_delay(INFO, INFO.not_before, random.Random(0))
    assert 0.5 * INFO.lifetime <= delay <= 0.8 * INFO.lifetime


def test_bad_lifetime_refused() -> None:
    with pytest.raises(ValueError):
        renewal_time(10.0, 10.0, random.Random(0))


def test_reasons() -> None:
    renew_at = INFO.not_before + 0.6 * INFO.lifetime
    kw: dict[str, Any] = dict(renew_at=renew_at, desired_role=NodeRole.WORKER)
    assert renewal_reason(INFO, now=INFO.not_before + 10, **kw) is None
    assert renewal_reason(INFO, now=renew_at, **kw) == "renewal time reached"
    assert renewal_reason(INFO, now=INFO.not_after + 1, **kw) == "certificate expired"
    promoted = renewal_reason(
        INFO, now=INFO.not_before, renew_at=renew_at, desired_role=NodeRole.MANAGER
    )
    assert promoted == "role changed from worker to manager"
    manager = replace(INFO, role=NodeRole.MANAGER)
    assert renewal_reason(manager, now=INFO.not_before, **kw) is not None


def test_which_store_changes_make_a_managers_renewer_look_again() -> None:
    """A manager's store applying a rotation, its end, a new expiry or this node's new
    role makes its renewer look again; anything else (another node, the join tokens, a
    service) does not. The PEMs are compared, never parsed: fakes will do."""
    me = "n" * 25
    cluster = Cluster(id="c" * 25, spec=ClusterSpec(name="default"), root_ca=RootCA(ca_cert=b"A"))
    rotating = replace(cluster, root_ca=replace(cluster.root_ca, root_rotation=RootRotation(b"B")))
    replaced = replace(
        rotating,
        root_ca=replace(
            rotating.root_ca, root_rotation=RootRotation(b"C", superseded_ca_certs=(b"B",))
        ),
    )
    completed = replace(cluster, root_ca=RootCA(ca_cert=b"B"))
    shorter = replace(
        cluster, spec=replace(cluster.spec, ca_config=CAConfig(node_cert_expiry=7200))
    )
    for old, new in (
        (None, cluster),  # the cluster created (a store catching up)
        (cluster, rotating),  # a rotation started: a new issuer
        (rotating, replaced),  # a rotation during a rotation
        (rotating, completed),  # completed: the old root dropped
        (cluster, shorter),
    ):
        assert changes_renewal_settings(old, new, me), (old, new)
    tokens = replace(rotating, root_ca=replace(rotating.root_ca, ca_cert_hash="other"))
    assert not changes_renewal_settings(rotating, tokens, me)
    assert not changes_renewal_settings(
        cluster, replace(cluster, spec=replace(cluster.spec, name="x")), me
    )

    node = Node(id=me, role=NodeRole.WORKER)
    promoted = replace(node, role=NodeRole.MANAGER)
    assert changes_renewal_settings(None, node, me)
    assert changes_renewal_settings(node, promoted, me)
    assert not changes_renewal_settings(node, replace(node, certificate=b"x"), me)
    other = Node(id="o" * 25, role=NodeRole.WORKER)
    assert not changes_renewal_settings(other, replace(other, role=NodeRole.MANAGER), me)
    assert not changes_renewal_settings(None, Service(id="s" * 25), me)
