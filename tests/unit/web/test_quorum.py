"""When the page says its rows may be stale: the control API's own point of refusal."""

from __future__ import annotations

from actors.control.readiness import LEADERLESS_SETTLED, NO_LEADER_MESSAGE
from actors.web.quorum import LEADER_KNOWN, STALE_NOTE, quorum_of


def test_a_leader_known_or_lost_too_recently_to_say_shows_no_warning() -> None:
    assert quorum_of(0.0) == LEADER_KNOWN
    assert quorum_of(LEADERLESS_SETTLED - 0.1) == LEADER_KNOWN


def test_a_settled_loss_says_dockers_words_and_that_the_rows_may_be_stale() -> None:
    lost = quorum_of(LEADERLESS_SETTLED)
    assert not lost.leader
    assert lost.message == f"{NO_LEADER_MESSAGE} {STALE_NOTE}"
    assert lost.to_json() == {"leader": False, "message": lost.message}


def test_a_manager_whose_raft_member_is_not_running_says_so() -> None:
    starting = quorum_of(None)
    assert not starting.leader and starting.message.endswith(STALE_NOTE)
    assert "not running yet" in starting.message
