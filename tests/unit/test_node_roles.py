"""The quorum-safety check before a demotion (actors/node_roles.py)."""

from __future__ import annotations

from actors.node_roles import ManagerView, check_demotion, quorum


def views(*reachable: bool) -> list[ManagerView]:
    return [ManagerView(f"m{i + 1}", r) for i, r in enumerate(reachable)]


def test_quorum() -> None:
    assert [quorum(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def test_the_last_manager_cannot_be_demoted() -> None:
    refusal = check_demotion(views(True), "m1")
    assert refusal is not None and "last manager" in refusal


def test_demoting_one_of_three_reachable_is_allowed() -> None:
    assert check_demotion(views(True, True, True), "m2") is None


def test_demoting_with_the_rest_unreachable_would_lose_quorum() -> None:
    # m3 unreachable: after demoting m2, only m1 of {m1, m3} is reachable, 2 needed
    refusal = check_demotion(views(True, True, False), "m2")
    assert refusal is not None and "quorum" in refusal
    # demoting the unreachable one leaves {m1, m2}, both reachable
    assert check_demotion(views(True, True, False), "m3") is None


def test_two_managers_down_to_one() -> None:
    assert check_demotion(views(True, True), "m2") is None
    assert check_demotion(views(True, False), "m1") is not None


def test_a_worker_is_not_checked() -> None:
    assert check_demotion(views(True), "w1") is None
