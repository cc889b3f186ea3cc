"""The words of explained states (api/explain.py)."""

from __future__ import annotations

from api.explain import (
    exit_error,
    health_output,
    task_reason,
    unhealthy_error,
    update_reason,
    update_status_rows,
)


def row(state: str, **kw: object) -> dict[str, object]:
    return {"state": state, "message": "", "error": "", "exit_code": None, **kw}


def test_failure_words() -> None:
    assert exit_error(3) == "task: non-zero exit (3)"
    assert exit_error(137, "OOM killed") == "task: non-zero exit (137): OOM killed"
    assert unhealthy_error("") == "task: unhealthy container"
    assert unhealthy_error(" curl:\n refused ") == (
        "task: unhealthy container (last health check: curl: refused)"
    )
    long = health_output("a" * 500 + "the end")
    assert long.startswith("...") and long.endswith("the end") and len(long) == 300


def test_task_reason_says_why_it_failed_or_waits() -> None:
    pending = "no suitable node (node drained on 2 nodes)"
    assert task_reason(row("pending", message=pending)) == pending
    assert task_reason(row("assigned", message="scheduler assigned task to node")) == ""
    pulling = "pulling image web:1: 2.0 MB of 8.0 MB"
    assert task_reason(row("preparing", message=pulling)) == pulling
    assert task_reason(row("running", message="started")) == ""
    failed = row("failed", error="task: non-zero exit (3)", exit_code=3)
    assert task_reason(failed) == "task: non-zero exit (3)"
    killed = row("failed", error="wait failed: engine gone", exit_code=137)
    assert task_reason(killed) == "wait failed: engine gone (exit code 137)"
    assert task_reason(row("rejected", error="pull access denied")) == "pull access denied"
    assert task_reason(row("shutdown", exit_code=143)) == ""


def test_update_words() -> None:
    assert update_reason(None) == ""
    assert update_reason({"state": "updating", "message": "update in progress"}) == ""
    paused = {"state": "paused", "message": "update paused due to failure of task t1"}
    assert update_reason(paused) == "update paused due to failure of task t1"
    assert update_reason({"state": "rollback_paused", "message": ""}) == "update rollback paused"
    rollback_paused = {"state": "rollback_paused", "message": "rollback paused due to failure"}
    assert update_reason(rollback_paused) == "update rollback paused due to failure"
    done = {"state": "rollback_completed", "message": "rollback completed: update rolled back"}
    assert update_reason(done) == "update rollback completed: update rolled back"
    rows = update_status_rows({**paused, "started_at": 0.0, "completed_at": None})
    assert rows == [
        ("Update Status", "paused"),
        ("Update Message", "update paused due to failure of task t1"),
    ]
    assert ("Update Started", "1970-01-01T00:00:10Z") in update_status_rows(
        {"state": "completed", "started_at": 10.0}
    )
