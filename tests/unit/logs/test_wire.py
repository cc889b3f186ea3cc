"""Log message bodies: values checked with errors naming the field (actors/logs/wire.py)."""

from __future__ import annotations

import re

import pytest

from actors.logs.wire import (
    MAX_PUBLISH_RECORDS,
    MAX_RECORD_BYTES,
    LogOptions,
    level_rank,
    parse_options,
    parse_publish,
    parse_selector,
)


def publish(records: list[dict[str, object]]) -> dict[str, object]:
    return {"node_id": "n", "subscription_id": "s", "records": records, "close": False}


def record(**changes: object) -> dict[str, object]:
    return {"task_id": "t", "ts": 1, "stream": "stdout", "data": b"x\n", **changes}


@pytest.mark.parametrize(
    ("records", "names"),
    [
        ([record(stream="stdin")], "records[0].stream"),
        ([record(data=b"x" * (MAX_RECORD_BYTES + 1))], "records[0].data"),
        ([record(ts=-1)], "records[0].ts"),
        ([record()] * (MAX_PUBLISH_RECORDS + 1), "records: at most"),
    ],
)
def test_a_bad_publish_is_refused_naming_what_is_wrong(
    records: list[dict[str, object]], names: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(names)):
        parse_publish(publish(records))


def test_selectors_name_tasks_or_a_node_not_both_and_are_bounded() -> None:
    assert parse_selector({"services": ["web"]}).services == ("web",)
    with pytest.raises(ValueError, match="not both"):
        parse_selector({"services": ["web"], "node": "n1"})
    with pytest.raises(ValueError, match="name a service"):
        parse_selector({})
    with pytest.raises(ValueError, match="at most"):
        parse_selector({"tasks": [f"t{i}" for i in range(100)]})


def test_options_round_trip_and_refuse_bad_values() -> None:
    options = LogOptions(follow=True, tail=3, since=5, min_level="warning", subsystems=("raft",))
    assert parse_options(options.encode()) == options
    with pytest.raises(ValueError, match=r"options\.tail"):
        parse_options({"follow": False, "tail": -2, "since": 0})
    with pytest.raises(ValueError, match="invalid log level"):
        parse_options({"follow": False, "tail": -1, "since": 0, "min_level": "loud"})
    assert level_rank("WARN") == level_rank("warning")
