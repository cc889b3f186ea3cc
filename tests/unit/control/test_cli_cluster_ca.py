"""``swarmctl cluster ca --rotate`` waiting as ``docker swarm ca --rotate`` does
(cli/cluster_ca.py): Docker's two lines, by the nodes' own reports; no root counted as
rotated while certificates still rotate; done only once every node trusts the new root
alone; an older manager's reply (no ``tls``) shows its rotation alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cli.cluster_ca import progress_lines, rotation_done, wait_rotation


def reply(
    certificates: int, roots: int, *, total: int = 3, waiting: tuple[str, ...] | None = ()
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ca_cert": "PEM",
        "tls": {
            "desired_root": "abc",
            "total": total,
            "certificates": certificates,
            "roots": roots,
        },
    }
    if waiting is not None:  # None: no rotation under way
        body["rotation"] = {
            "converged": certificates,
            "total": total,
            "waiting": list(waiting),
        }
    return body


def test_dockers_lines_while_certificates_rotate() -> None:
    during = reply(1, 3, waiting=("n2", "n3"))
    assert progress_lines(during) == (
        "desired root digest: abc",
        "  rotated TLS certificates: 1/3 nodes (waiting for n2, n3)",
        "  rotated CA certificates: 0/3 nodes",  # Docker's: none while certificates rotate
    )
    assert not rotation_done(during)
    assert not rotation_done(reply(3, 3, waiting=()))  # reported, not yet completed


def test_after_the_rotation_it_waits_for_every_node_to_trust_the_new_root_alone() -> None:
    after = reply(3, 1, waiting=None)
    assert progress_lines(after) == (
        "desired root digest: abc",
        "  rotated TLS certificates: 3/3 nodes",
        "  rotated CA certificates: 1/3 nodes",
    )
    assert not rotation_done(after)
    assert not rotation_done(reply(2, 2, waiting=None))  # a node joined, not yet reported
    assert rotation_done(reply(3, 3, waiting=None))


def test_an_older_managers_reply_shows_its_rotation_alone() -> None:
    older = {"ca_cert": "PEM", "rotation": {"converged": 1, "total": 2, "waiting": ["n2"]}}
    assert progress_lines(older) == ("rotation in progress: 1/2 nodes (waiting for n2)",)
    assert not rotation_done(older)
    assert progress_lines({"ca_cert": "PEM"}) == ()
    assert rotation_done({"ca_cert": "PEM"})


def test_the_wait_shows_each_line_when_it_changes_and_the_last_ones() -> None:
    replies = iter(
        [
            reply(1, 0, waiting=("n2", "n3")),
            reply(1, 0, waiting=("n2", "n3")),
            reply(3, 0, waiting=()),  # every node reported: the rotation completes
            reply(3, 2, waiting=None),
            reply(3, 3, waiting=None),
        ]
    )
    shown: list[str] = []

    def fetch() -> Mapping[str, Any]:
        return next(replies)

    last = wait_rotation(fetch, show=shown.append, sleep=lambda _s: None)
    assert last["tls"]["roots"] == 3
    assert shown == [
        "desired root digest: abc",
        "  rotated TLS certificates: 1/3 nodes (waiting for n2, n3)",
        "  rotated CA certificates: 0/3 nodes",
        "  rotated TLS certificates: 3/3 nodes",
        "  rotated CA certificates: 2/3 nodes",
        "  rotated CA certificates: 3/3 nodes",
    ]
