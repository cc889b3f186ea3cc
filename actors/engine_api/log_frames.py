"""``/services/{id}/logs`` and ``/tasks/{id}/logs`` on the wire (pure).

Docker multiplexes a container's streams when it has no TTY: each line is one frame, an
8-byte header (stream 1 stdout or 2 stderr, three zero bytes, the payload's length as a
big-endian uint32) and the payload; a TTY's output is one stream, sent raw (``raw``): the
lines only, as the docker CLI copies a TTY service's logs unframed. ``details`` puts the task's
context first (``com.docker.swarm.node.id=N,com.docker.swarm.service.id=S,
com.docker.swarm.task.id=T``, keys sorted, then a space): the docker CLI reads it to name
each line ``service.slot.task@node``; ``timestamps`` puts the line's time before that.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote_plus

from actors.engine_api.errors import bad_request
from actors.engine_api.wire import parse_time, query_bool

__all__ = ["LogQuery", "error_frame", "log_frame", "parse_log_query", "timestamp_ns"]

STREAMS: Final = {"stdout": 1, "stderr": 2}
SYSTEM_ERROR: Final = 3  # dockerd's stream for an error that ends a log stream


@dataclass(frozen=True, slots=True)
class LogQuery:
    follow: bool
    stdout: bool
    stderr: bool
    timestamps: bool
    details: bool
    tail: int  # -1: every line
    since_ns: int  # 0: from the first line

    def options(self) -> dict[str, Any]:
        """The control API's log options (api/schema/logs.py LOG_OPTIONS)."""
        return {"follow": self.follow, "tail": self.tail, "since": self.since_ns}


def parse_log_query(query: Mapping[str, str]) -> LogQuery:
    stdout, stderr = query_bool(query, "stdout"), query_bool(query, "stderr")
    if not (stdout or stderr):
        raise bad_request("Bad parameters: you must choose at least one stream")
    tail_text = query.get("tail", "all").strip() or "all"
    if tail_text == "all":
        tail = -1
    else:
        try:
            tail = int(tail_text)
        except ValueError:
            raise bad_request(f"invalid tail {tail_text!r} (a number or all)") from None
        if tail < 0:
            tail = -1  # Docker reads a negative tail as all
    since = query.get("since", "").strip()
    since_ns = int(parse_time(since, "since") * 1e9) if since and since != "0" else 0
    return LogQuery(
        follow=query_bool(query, "follow"),
        stdout=stdout,
        stderr=stderr,
        timestamps=query_bool(query, "timestamps"),
        details=query_bool(query, "details"),
        tail=tail,
        since_ns=since_ns,
    )


def timestamp_ns(ns: int) -> str:
    """RFC 3339 with nine fraction digits, as Docker's RFC3339NanoFixed."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def log_frame(
    query: LogQuery, record: Mapping[str, Any], context: Mapping[str, str], raw: bool = False
) -> bytes | None:
    """One record as a multiplexed frame (``raw``: the line alone); None when its stream
    was not asked for. ``context``: ``{node_id, service_id, task_id}`` of the record's
    task."""
    stream = str(record.get("stream", ""))
    if stream not in STREAMS or not (query.stdout if stream == "stdout" else query.stderr):
        return None
    data = bytes(record.get("data", b""))
    if not data.endswith(b"\n"):
        data += b"\n"
    head = b""
    if query.details:
        attrs = {
            "com.docker.swarm.node.id": context.get("node_id", ""),
            "com.docker.swarm.service.id": context.get("service_id", ""),
            "com.docker.swarm.task.id": context.get("task_id", ""),
        }
        head = (
            ",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted(attrs.items())) + " "
        ).encode()
    if query.timestamps:
        head = timestamp_ns(int(record.get("ts", 0))).encode() + b" " + head
    payload = head + data
    if raw:
        return payload
    return struct.pack(">BxxxL", STREAMS[stream], len(payload)) + payload


def error_frame(message: str, raw: bool = False) -> bytes:
    """The last frame of a stream that fails after its headers went out, as dockerd writes
    it: ``Error grabbing logs: MESSAGE`` on the system-error stream, which the docker CLI
    shows (``error from daemon in stream: ...``) and exits 1 on; ``raw`` (a TTY's
    stream): the line alone."""
    payload = f"Error grabbing logs: {message}\n".encode()
    if raw:
        return payload
    return struct.pack(">BxxxL", SYSTEM_ERROR, len(payload)) + payload
