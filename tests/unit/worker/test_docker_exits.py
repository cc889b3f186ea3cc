"""The Docker executor's exit watch, pure part: which events end which waits."""

from __future__ import annotations

from typing import Any

import pytest

from actors.worker.executors.docker_config import LABEL_NODE_ID
from actors.worker.executors.docker_exits import (
    ContainerEvent,
    ExitWatches,
    Wake,
    events_filters,
    parse_event,
    running_ids,
)


def event(action: str, container_id: str = "c1", **attributes: str) -> dict[str, Any]:
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": container_id, "Attributes": {"name": "web.1.x", **attributes}},
        "time": 1,
    }


def test_the_stream_asks_for_what_wakes_of_this_nodes_containers() -> None:
    assert events_filters("n1") == {
        "type": ["container"],
        "label": [f"{LABEL_NODE_ID}=n1"],
        "event": ["die", "destroy", "health_status"],
    }


def test_a_die_carries_its_exit_code() -> None:
    assert parse_event(event("die", exitCode="137")) == ContainerEvent("c1", "die", 137)
    assert parse_event(event("die")) == ContainerEvent("c1", "die", None)
    assert parse_event(event("die", exitCode="x")) == ContainerEvent("c1", "die", None)


def test_removal_and_a_failed_healthcheck_wake() -> None:
    assert parse_event(event("destroy")) == ContainerEvent("c1", "destroy")
    unhealthy = parse_event(event("health_status: unhealthy"))
    assert unhealthy == ContainerEvent("c1", "health_status: unhealthy")


@pytest.mark.parametrize(
    "raw",
    [
        event("health_status: healthy"),
        event("start"),
        {**event("die"), "Type": "network"},
        {**event("die"), "Actor": None},
        event("die", container_id=""),
        {"Type": "container", "Action": "die"},
        "die",
        None,
        [],
    ],
)
def test_anything_else_wakes_nothing(raw: object) -> None:
    assert parse_event(raw) is None


def test_running_ids_of_a_listing() -> None:
    listing = [
        {"Id": "a", "State": "running"},
        {"Id": "b", "State": "exited"},
        {"Id": "c", "State": "paused"},
        {"Id": "d", "State": "restarting"},
        {"Id": "e", "State": "created"},
        {"State": "running"},
    ]
    assert running_ids(listing) == frozenset({"a", "c", "d"})


def test_an_event_fires_every_watch_of_its_container_once() -> None:
    watches: ExitWatches[str] = ExitWatches()
    watches.add("c1", "first")
    watches.add("c1", "second")
    watches.add("c2", "other")
    fired = watches.on_event(ContainerEvent("c1", "die", 3))
    assert fired == [("first", Wake(exit_code=3)), ("second", Wake(exit_code=3))]
    assert watches.on_event(ContainerEvent("c1", "destroy")) == []
    assert len(watches) == 1


def test_pop_cancels_a_watch_and_says_whether_it_was_there() -> None:
    watches: ExitWatches[str] = ExitWatches()
    key = watches.add("c1", "w")
    assert watches.pop(key) == "w"
    assert watches.pop(key) is None
    assert watches.on_event(ContainerEvent("c1", "die", 0)) == []
    assert len(watches) == 0


def test_a_listing_fires_the_watches_of_containers_not_running() -> None:
    watches: ExitWatches[str] = ExitWatches()
    watches.add("running", "r")
    watches.add("stopped", "s")
    watches.add("removed", "gone")
    fired = watches.on_listing(frozenset({"running", "unwatched"}))
    assert sorted(n for n, _ in fired) == ["gone", "s"]
    assert all(wake == Wake() for _, wake in fired)
    assert len(watches) == 1


def test_fail_all_fires_every_watch_with_the_error() -> None:
    watches: ExitWatches[str] = ExitWatches()
    watches.add("c1", "a")
    watches.add("c2", "b")
    error = RuntimeError("bug")
    assert watches.fail_all(error) == [("a", Wake(error=error)), ("b", Wake(error=error))]
    assert len(watches) == 0
