"""The collector settings a node process runs with (actors/heap.py)."""

from __future__ import annotations

import gc

from actors.heap import OLDER, YOUNG, tune_collector


def test_tune_collector_sets_the_thresholds_and_returns_the_old_ones() -> None:
    before = gc.get_threshold()
    try:
        assert tune_collector() == before
        assert gc.get_threshold() == (YOUNG, OLDER, OLDER)
        assert gc.isenabled()  # cycles are still found, only less often
    finally:
        gc.set_threshold(*before)


def test_the_node_and_the_fleet_tune_their_collector() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert "tune_collector()" in (root / "cli" / "node_main.py").read_text()
    assert "tune_collector()" in (root / "bench" / "fleet.py").read_text()


def test_tune_malloc_fixes_the_mmap_threshold_under_glibc() -> None:
    import platform

    from actors.heap import tune_malloc

    assert tune_malloc() is (platform.libc_ver()[0] == "glibc")


def test_the_node_tunes_its_allocator() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert "tune_malloc()" in (root / "cli" / "node_main.py").read_text()
