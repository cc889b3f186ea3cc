"""Listings in frames: a cluster's whole task list outgrows one message, and so can its
services and nodes.

A task row is about 300 bytes, so an unfiltered ``control.task.ls`` (or the ``service ps``
of one large service) passes the 16 MiB message limit near 50,000 tasks; with whole tasks
(the Engine API's list) far sooner. Whole services (``service.ls`` full: spec and previous
spec, each up to 128 KiB) pass it from about 70 services with large specs, and whole nodes
(``node.ls`` full: a description of up to 128 KiB that the node itself sends) from about
130 such nodes. A request that sets ``stream`` gets its rows in
frames, each ``more`` but the last, all from one read of the store: a consistent list,
never one stitched from reads at different moments. A request without it gets one reply,
or ``too_large`` naming the limit and how to ask, never a truncated list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from actors.control.errors import Body, BodyFunction, ControlCode, ControlError, guarded
from api.errors import FrameTooLarge
from transport.endpoint import Handler, Request

__all__ = ["FIRST_FRAME_ROWS", "in_frames"]

# Rows tried in one frame; halved while a frame is over the endpoint's message limit.
FIRST_FRAME_ROWS: Final = 2_000


def in_frames(fn: BodyFunction, rows_key: str) -> Handler:
    """A handler running ``fn`` and sending its reply's ``rows_key`` list in frames when
    the request asks ``stream``; control errors answered as ``guarded``'s are."""

    def send(request: Request, body: Body) -> None:
        if request.body.get("stream"):
            _send_in_frames(request, body, rows_key)
        else:
            _send_whole(request, body, rows_key)

    return guarded(fn, send)


def _send_whole(request: Request, body: Mapping[str, Any], rows_key: str) -> None:
    try:
        request.reply(body)
    except FrameTooLarge as exc:
        raise ControlError(
            ControlCode.TOO_LARGE,
            f"{request.type}: {len(body[rows_key]):,} rows are over one message ({exc}); "
            "ask with stream to get them in frames",
        ) from None


def _send_in_frames(request: Request, body: Mapping[str, Any], rows_key: str) -> None:
    rows: Sequence[Any] = body[rows_key]
    start, size = 0, FIRST_FRAME_ROWS
    while True:
        end = min(start + size, len(rows))
        last = end == len(rows)
        try:
            request.reply({**body, rows_key: rows[start:end]}, more=not last)
        except FrameTooLarge as exc:
            if end - start <= 1:  # one row over the limit: objects are bounded far below it
                raise ControlError(
                    ControlCode.TOO_LARGE, f"{request.type}: row {start} alone: {exc}"
                ) from None
            size = max(1, (end - start) // 2)
            continue
        if last:
            return
        start = end
