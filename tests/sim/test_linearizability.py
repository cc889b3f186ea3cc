from __future__ import annotations

from tests.sim.linearizability import Op, check_history


def test_sequential_history_is_linearizable() -> None:
    h = [Op(1, 2, "w", "a", 1), Op(3, 4, "r", "a", 1), Op(5, 6, "w", "a", 2), Op(7, 8, "r", "a", 2)]
    assert check_history(h) is None


def test_stale_read_is_not_linearizable() -> None:
    h = [Op(1, 2, "w", "a", 1), Op(3, 4, "w", "a", 2), Op(5, 6, "r", "a", 1)]
    assert check_history(h) == "a"


def test_concurrent_ops_may_take_either_order() -> None:
    h = [Op(1, 10, "w", "a", 1), Op(2, 3, "r", "a", None), Op(4, 5, "r", "a", 1)]
    assert check_history(h) is None
    h2 = [Op(1, 10, "w", "a", 1), Op(2, 3, "r", "a", 1), Op(4, 5, "r", "a", None)]
    assert check_history(h2) == "a"


def test_pending_write_may_or_may_not_have_happened() -> None:
    assert check_history([Op(1, None, "w", "a", 1), Op(2, 3, "r", "a", 1)]) is None
    assert check_history([Op(1, None, "w", "a", 1), Op(2, 3, "r", "a", None)]) is None
    # once observed, it cannot be un-observed
    h = [Op(1, None, "w", "a", 1), Op(2, 3, "r", "a", 1), Op(4, 5, "r", "a", None)]
    assert check_history(h) == "a"


def test_keys_are_checked_independently() -> None:
    h = [Op(1, 2, "w", "a", 1), Op(3, 4, "w", "b", 2), Op(5, 6, "r", "b", 2), Op(7, 8, "r", "a", 1)]
    assert check_history(h) is None
