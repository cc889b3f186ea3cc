"""A state dir that already holds a node resumes it; a ``--join-token`` given with it must
be this cluster's (``refuse_foreign_join``): a token of another cluster, or a malformed
one, is refused naming the problem, where it used to be ignored with a log line while the
node silently stayed in its own cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.node.startup.security import JoinError, prepare_node, refuse_foreign_join


def _init(state: Path) -> str:
    """A one-manager cluster in ``state``; its worker join token."""
    startup = prepare_node(state, hostname="m1", advertise_addr="127.0.0.1:1")
    cluster = startup.initial_cluster.cluster
    assert cluster is not None
    return cluster.join_tokens.worker


def test_a_token_of_another_cluster_is_refused_naming_the_state_dir(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "a", tmp_path / "b"
    _init(ours)
    their_token = _init(theirs)
    with pytest.raises(JoinError) as info:
        prepare_node(
            ours,
            hostname="m1",
            advertise_addr="127.0.0.1:1",
            join_addr="127.0.0.1:2",
            join_token=their_token,
        )
    assert info.value.code == "wrong_cluster"
    assert str(ours) in str(info.value) and "another cluster" in str(info.value)
    assert "new --state-dir" in str(info.value)


def test_this_clusters_token_resumes_the_node(tmp_path: Path) -> None:
    state = tmp_path / "a"
    token = _init(state)
    again = prepare_node(
        state,
        hostname="m1",
        advertise_addr="127.0.0.1:1",
        join_addr="127.0.0.1:2",
        join_token=token,
    )
    assert again.mode == "resume"


def test_a_malformed_token_is_refused_and_none_is_fine(tmp_path: Path) -> None:
    state = tmp_path / "a"
    _init(state)
    with pytest.raises(JoinError) as info:
        refuse_foreign_join(state, "SWMTKN-2-nonsense")
    assert info.value.code == "invalid_token" and "--join-token" in str(info.value)
    refuse_foreign_join(state, None)
    refuse_foreign_join(
        tmp_path / "empty", "SWMTKN-1-anything"
    )  # nothing to resume: the join decides
