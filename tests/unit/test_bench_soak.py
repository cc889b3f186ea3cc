"""bench/_soak.py: how the soak reads a manager's metrics, splits a state dir and fits a
trend."""

from __future__ import annotations

from pathlib import Path

from bench._soak import slope_per_hour, state_dir_sizes, store_counts, trend


def test_a_steady_series_has_no_slope_and_a_growing_one_its_rate_per_hour() -> None:
    assert slope_per_hour([(0, 5), (60, 5), (120, 5)]) == 0.0
    assert slope_per_hour([(0, 0), (1800, 10), (3600, 20)]) == 20.0
    assert slope_per_hour([(0, 1), (60, 2)]) is None  # too few points to say


def test_the_trend_is_fitted_after_the_warm_up_but_reports_the_whole_series() -> None:
    points = [(0.0, 100.0), (60.0, 50.0), (120.0, 10.0), (180.0, 10.0), (240.0, 10.0)]
    found = trend(points, warmup_s=100.0)
    assert found["start"] == 100.0 and found["end"] == 10.0 and found["max"] == 100.0
    assert found["slope_per_h"] == 0.0 and found["fitted_from_s"] == 120.0


def test_store_counts_are_read_from_the_swarm_namespace() -> None:
    text = "\n".join(
        [
            "# HELP swarm_store_objects Objects in this manager's store, by kind.",
            'swarm_store_objects{kind="task"} 42.0',
            'swarm_tasks{state="running"} 7.0',
            'swarm_cluster_service_replicas_desired{service="x"} 3.0',
        ]
    )
    assert store_counts(text) == {"store_task": 42, "tasks_running": 7}


def test_a_state_dir_is_split_into_wal_snapshots_worker_db_and_the_rest(tmp_path: Path) -> None:
    (tmp_path / "raft").mkdir()
    (tmp_path / "raft" / "wal-0000000000000000-0000000000000001.log").write_bytes(b"w" * 10)
    (tmp_path / "raft" / "snap-0000000000000010-0000000000000002.snap").write_bytes(b"s" * 4)
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "tasks.msgpack").write_bytes(b"t" * 3)
    (tmp_path / "node_id").write_bytes(b"n")
    sizes = state_dir_sizes(tmp_path)
    assert sizes["raft_wal_bytes"] == 10 and sizes["raft_snapshots_bytes"] == 4
    assert sizes["worker_db_bytes"] == 3 and sizes["other_bytes"] == 1
    assert sizes["total_bytes"] == 18 and sizes["files"] == 4
