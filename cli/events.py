"""``swarmctl events``: watch what the cluster does, as ``docker events`` does.

The manager streams its own store's changes (actors/events/streams.py) in leases: each
request streams for ``LEASE`` seconds, then ends with the position to ask again from, and
this command asks again at once, so a follow never misses or repeats a change. With
``--until`` it stops there; without it, it follows until interrupted. A position the
manager no longer holds is refused (``gone``) with the oldest one it does hold; a manager
that stops or vanishes ends the watch with the position to resume from (on another
manager: positions are Raft indexes, the same on every manager). A time before the
history the manager holds (kept in memory and bounded: a Raft snapshot, or a restart from
one, begins it anew) gives what it holds, as ``docker events --since`` does, with a note on
stderr saying where that history starts.

Each event is one line: ``TIME @POSITION TYPE ACTION ID (key=value, ...)``; with
``--format json`` one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from api.events import EVENT_ACTIONS, EVENT_TYPES, Bound, parse_bound, parse_filters
from cli.connection import ControlConnection
from cli.errors import CliError

__all__ = ["format_event", "register"]

LEASE: Final = 10.0  # seconds one request streams before the manager ends it


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser(
        "events",
        parents=[common],
        help="stream cluster events",
        description="Stream cluster events from this manager's store: node join/remove, "
        "promote/demote, status and availability changes, leadership changes, service, "
        "task and cluster changes. Each line shows the event's @POSITION: --since @N "
        "resumes after it, on any manager.",
    )
    when = "@POSITION, a duration before now (10m), a Unix time or a date/time"
    parser.add_argument(
        "--since", default=None, metavar="TIME", help=f"show events after this ({when})"
    )
    parser.add_argument(
        "--until",
        default=None,
        metavar="TIME",
        help=f"stop after this ({when}); without it, follow until interrupted",
    )
    parser.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"type={'|'.join(EVENT_TYPES)}, event={'|'.join(EVENT_ACTIONS)}, "
        "service=NAME, node=NAME (repeatable: values of one key match any, keys all)",
    )
    parser.set_defaults(run=run_events)


def _bound(text: str | None, flag: str, now: float) -> Bound:
    if text is None:
        return Bound()
    try:
        return parse_bound(text, now)
    except ValueError as exc:
        raise CliError(f"{flag}: {exc}", exit_code=2) from None


def run_events(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    try:
        filters = parse_filters(args.filter)
    except ValueError as exc:
        raise CliError(f"--filter: {exc}", exit_code=2) from None
    now = time.time()
    since = _bound(args.since, "--since", now)
    until = _bound(args.until, "--until", now)
    body: dict[str, Any] = {
        "filters": filters.to_wire(),
        **since.to_wire("since"),
        **until.to_wire("until"),
        "wait": LEASE,
    }
    if since.time is not None:
        body["since_held"] = True  # what is held, and a note when that starts later
    out = sys.stdout
    json_lines = args.format == "json"
    position: int | None = None
    with connection.watching() as watched:
        while True:
            end = ""
            try:
                for frame in watched.stream(
                    "control.events", body, timeout=LEASE + watched.timeout
                ):
                    if position is None and "held_after" in frame:
                        _note_held(frame, since)
                    for event in frame["events"]:
                        _write(out, event, json_lines)
                    position = int(frame["position"])
                    end = str(frame["end"])
            except CliError as exc:
                if position is None:
                    raise
                raise CliError(f"{exc}; resume with --since @{position}") from None
            if end != "lease":
                break
            body = {k: v for k, v in body.items() if not k.startswith("since_")}
            body["since_position"] = position
    if end == "closed":
        raise CliError(f"the manager stopped serving events; resume with --since @{position}")
    return 0


def _note_held(frame: Mapping[str, Any], since: Bound) -> None:
    """The manager's history starts after the asked-for time: say so on stderr, so the
    events shown (stdout, which may be JSON) are not taken for all there were."""
    oldest, floor = frame.get("held_oldest_time"), frame["held_after"]
    asked = _iso(float(since.time or 0))
    held = (
        f"holds events from {_iso(float(oldest))} on (after @{floor}) only: those between "
        f"--since {asked} and then are not shown"
        if oldest is not None
        else f"holds no events from before now (its history starts after @{floor}): those "
        f"since --since {asked} are not shown"
    )
    print(
        f"swarmctl: note: this manager {held} (its event history is kept in memory and "
        "bounded: a Raft snapshot, or a restart from one, begins it anew)",
        file=sys.stderr,
        flush=True,
    )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write(out: TextIO, event: Mapping[str, Any], json_lines: bool) -> None:
    out.write((json.dumps(event, sort_keys=True) if json_lines else format_event(event)) + "\n")
    out.flush()


def format_event(event: Mapping[str, Any]) -> str:
    """``2024-05-01T10:00:00.123456Z @42 node update ID (change=drain, name=w1, ...)``."""
    stamp = datetime.fromtimestamp(float(event["time"]), tz=UTC)
    when = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    attributes = dict(event.get("attributes") or {})
    if event.get("changes"):
        attributes["change"] = ",".join(event["changes"])
    shown = ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes))
    line = f"{when} @{event['position']} {event['type']} {event['action']} {event['id']}"
    return f"{line} ({shown})" if shown else line
