"""Pulling a task's missing image through the engine, with progress and the service's
registry credentials (what to send and what a failure means: docker_pull.py).

An image already on the node is used as it is (nothing is pulled: the test image and
images loaded by hand work without a registry). Only the credentials the manager sent for
the task's service are used, never the node's own docker config: without them the pull is
anonymous.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker.errors
import requests.exceptions

from actors.log import get_logger
from actors.worker.executors.base import (
    EngineUnavailableError,
    ImageNotFoundError,
    Progress,
    PullError,
)
from actors.worker.executors.docker_errors import edge, explanation
from actors.worker.executors.docker_pull import PullProgress, auth_config, pull_failure
from api.objects import RegistryAuth

__all__ = ["ensure_image"]

_log = get_logger("worker")


def _has_image(api: Any, image: str) -> bool:
    try:
        with edge("inspect image", image=image):
            api.inspect_image(image)
    except ImageNotFoundError:
        return False
    return True


def ensure_image(
    api: Any,
    image: str,
    auth: RegistryAuth | None,
    *,
    progress: Progress | None,
    clock: Callable[[], float],
    task_id: str = "",
) -> None:
    """Pull ``image`` unless the node has it. ImageNotFoundError or PullError (fatal for
    the task) with a message saying why; EngineUnavailableError when the engine does not
    answer (retried)."""
    if _has_image(api, image):
        return
    config = auth_config(image, auth)
    tracker = PullProgress(image, clock)
    if progress is not None:
        progress(tracker.emit() or "")
    _log.info("worker.image.pull.started", image=image, task_id=task_id, auth=config is not None)
    try:
        for event in api.pull(image, stream=True, decode=True, auth_config=config or {}):
            if not isinstance(event, dict):
                continue
            if event.get("error"):
                _fail(image, str(event["error"]), config is not None, task_id)
            tracker.feed(event)
            line = tracker.emit()
            if line is not None and progress is not None:
                progress(line)
    except docker.errors.APIError as exc:
        _fail(image, explanation(exc), config is not None, task_id)
    except requests.exceptions.RequestException as exc:
        raise EngineUnavailableError(f"pull {image}: engine unavailable: {exc}") from exc
    if progress is not None:
        progress(tracker.emit(final=True) or "")
    _log.info("worker.image.pull.complete", image=image, task_id=task_id)


def _fail(image: str, reason: str, with_auth: bool, task_id: str) -> None:
    missing, message = pull_failure(image, reason, with_auth=with_auth)
    _log.warning("worker.image.pull.failed", image=image, task_id=task_id, error=message)
    raise (ImageNotFoundError if missing else PullError)(message)
