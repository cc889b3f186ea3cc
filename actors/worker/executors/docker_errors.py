"""The Docker SDK's exceptions mapped to the executor's own (executors/base.py), at the
edge: ``ImageNotFound`` → ``ImageNotFoundError``, ``NotFound`` → ``ContainerNotFoundError``,
other ``APIError`` → ``EngineError`` with the engine's message, connection failures and
timeouts → ``EngineUnavailableError`` (retried)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker.errors
import requests.exceptions

from actors.worker.executors.base import (
    ContainerNotFoundError,
    EngineError,
    EngineUnavailableError,
    ExecutorError,
    ImageNotFoundError,
)

__all__ = ["edge", "explanation"]


def explanation(exc: docker.errors.APIError) -> str:
    text = exc.explanation
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text or exc)


@contextlib.contextmanager
def edge(what: str, *, image: str = "") -> Iterator[None]:
    """Map the SDK's exceptions raised inside to the executor's own."""
    try:
        yield
    except ExecutorError:
        raise
    except docker.errors.ImageNotFound as exc:
        raise ImageNotFoundError(
            f"image {image} not found on this node: {explanation(exc)}"
        ) from exc
    except docker.errors.NotFound as exc:
        raise ContainerNotFoundError(f"{what}: {explanation(exc)}") from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"{what}: {explanation(exc)}") from exc
    except requests.exceptions.RequestException as exc:
        raise EngineUnavailableError(f"{what}: engine unavailable: {exc}") from exc
    except docker.errors.DockerException as exc:
        raise EngineError(f"{what}: {exc}") from exc
