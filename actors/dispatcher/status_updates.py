"""A node's task status updates on the wire (``dispatcher.status``, declared in
api/schema/dispatcher.py): a batch of (task id, status) pairs (which the dispatcher
accepts: actors/dispatcher/statuses.py).

Rules:
- The transport has validated the body against its declaration; each status is decoded
  with the object codec, tolerant (``strict=False``): the fields a newer node adds are
  skipped.
- An item whose status does not decode is named with its reason (``undecodable status:``
  and the field), never fatal to the batch: the others are judged as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from api.codec_objects import ObjectDecodeError, decode, encode
from api.objects import TaskStatus

__all__ = ["encode_status_updates", "parse_status_updates"]


def encode_status_updates(updates: Iterable[tuple[str, TaskStatus]]) -> list[dict[str, Any]]:
    return [{"task_id": task_id, "status": encode(status)} for task_id, status in updates]


def parse_status_updates(
    items: Sequence[Mapping[str, Any]],
) -> tuple[list[tuple[str, TaskStatus]], list[tuple[str, str]]]:
    """Decoded updates, and (task id, reason) for the items that do not decode."""
    good: list[tuple[str, TaskStatus]] = []
    bad: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        task_id = str(item["task_id"])
        try:
            good.append(
                (task_id, decode(TaskStatus, item["status"], f"updates[{i}].status", strict=False))
            )
        except ObjectDecodeError as exc:
            bad.append((task_id, f"undecodable status: {exc}"))
    return good, bad
