"""bench/raft.py's report: issue 14's etcd anchors with ratios, and its aims (no timing)."""

from __future__ import annotations

import argparse

import pytest

from bench.raft import aims, concurrency_list, ratios, summary

OURS = {"seq_p50_ms": 1.54, "c1": 600.0, "c16": 4000.0, "c64": 7700.0, "failover_gap_s": 1.0}


def test_the_issue_14_anchors_get_ratios_on_the_figures_they_have() -> None:
    out = ratios(OURS)
    go = out["etcd, fsync on, Go client (issue 14)"]
    assert go == {"seq_p50": 0.5, "c64": 0.77}
    assert out["etcd, fsync on, Python HTTP client (issue 14)"] == {"c64": 2.11}
    assert set(out["etcd 3.4, fsync on, Go client"]) == {
        "seq_p50",
        "c1",
        "c16",
        "c64",
        "failover_gap",
    }


def test_the_aims_say_whether_they_were_met() -> None:
    report = aims({"c64": 9100.0, "seq_p50_ms": 1.2})
    assert report["c64_writes_per_s"] == {"aim": 9000, "ours": 9100.0, "met": True}
    assert report["seq_p50_ms"] == {"aim": 1.0, "ours": 1.2, "met": False}


def test_a_run_of_some_writer_counts_reports_only_what_it_measured() -> None:
    runs = {"c1": {"p50_ms": 1.1, "p99_ms": 1.9, "writes_per_s": 850}}
    assert summary(runs, [], seq_p99=True) == {"seq_p50_ms": 1.1, "seq_p99_ms": 1.9, "c1": 850}
    remote = summary(runs, [1.2, 0.9, 1.0], seq_p99=False)
    assert remote == {"seq_p50_ms": 1.1, "c1": 850, "failover_gap_s": 1.0}
    assert set(aims(remote)) == {"seq_p50_ms"}
    assert ratios(remote)["etcd, fsync on, Go client (issue 14)"] == {"seq_p50": 0.7}


def test_the_concurrency_list_is_numbers_of_at_least_one() -> None:
    assert concurrency_list("1") == (1,)
    assert concurrency_list("1,16,64") == (1, 16, 64)
    for bad in ("", "0", "1,x", "-4"):
        with pytest.raises(argparse.ArgumentTypeError):
            concurrency_list(bad)
