"""bench/raft.py's report: issue 14's etcd anchors with ratios, and its aims (no timing)."""

from __future__ import annotations

from bench.raft import aims, ratios

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
