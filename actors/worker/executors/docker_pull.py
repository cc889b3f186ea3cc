"""Pulling a task's image, as plain values: the credentials to send, the progress to show,
and what a failed pull means. No SDK import, no I/O.

Rules:
- Credentials (``--with-registry-auth``) go only to the registry they were given for: a
  service whose image moved to another registry pulls it without them.
- Progress comes from the engine's pull stream, one event per layer step
  (``{"id": layer, "status": "Downloading", "progressDetail": {"current", "total"}}``);
  ``PullProgress`` sums it into one line for the task's message, at most once per
  ``interval`` seconds of the injected clock (the first and the last always).
- A failed pull is fatal for the task (REJECTED, with a message saying which of these it
  was): the image does not exist in its registry, the registry wants credentials the
  service was not given, the registry refused the credentials it was given, or the
  registry could not be reached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from api.image_ref import parse_image, registry_key
from api.objects import RegistryAuth
from api.units import format_bytes

__all__ = [
    "PROGRESS_INTERVAL",
    "PullProgress",
    "auth_config",
    "pull_failure",
]

PROGRESS_INTERVAL: Final = 1.0  # seconds between progress messages of one pull

_NOT_FOUND = ("manifest unknown", "not found", "does not exist", "name unknown")
_NO_CREDENTIALS = ("no basic auth credentials", "authentication required", "unauthorized")
_DENIED = ("denied", "incorrect username or password", "unauthorized")


def auth_config(image: str, auth: RegistryAuth | None) -> dict[str, str] | None:
    """The engine's ``X-Registry-Auth`` for pulling ``image``, or None: no credentials, or
    credentials for another registry."""
    if auth is None:
        return None
    try:
        registry = parse_image(image).registry
    except ValueError:
        return None
    if registry_key(auth.server_address) != registry:
        return None
    config = {"serveraddress": auth.server_address, "username": auth.username}
    if auth.identity_token:
        config["identitytoken"] = auth.identity_token
    else:
        config["password"] = auth.password
    return config


def pull_failure(image: str, reason: str, *, with_auth: bool) -> tuple[bool, str]:
    """(missing image?, the message) for a pull the engine failed with ``reason``."""
    text = reason.lower()
    if any(word in text for word in _NOT_FOUND) and "credentials" not in text:
        return True, f"image {image} not found in its registry: {reason}"
    if with_auth and any(word in text for word in _DENIED):
        return False, f"the registry refused the credentials for {image}: {reason}"
    if any(word in text for word in _NO_CREDENTIALS):
        return False, (
            f"the registry wants credentials to pull {image}: {reason} (create or update "
            "the service with --with-registry-auth)"
        )
    if "pull access denied" in text:
        return True, f"image {image} not found, or it needs credentials: {reason}"
    return False, f"pulling image {image} failed: {reason}"


@dataclass(slots=True)
class _Layer:
    status: str = ""
    current: int = 0
    total: int = 0


@dataclass
class PullProgress:
    """One pull's progress; ``feed`` each stream event, ``emit`` the line when due."""

    image: str
    clock: Callable[[], float]
    interval: float = PROGRESS_INTERVAL
    _layers: dict[str, _Layer] = field(default_factory=dict)
    _last: float | None = None

    def feed(self, event: Mapping[str, Any]) -> None:
        layer_id = event.get("id")
        status = str(event.get("status") or "")
        if not layer_id or not status or status.startswith("Pulling from"):
            return
        layer = self._layers.setdefault(str(layer_id), _Layer())
        layer.status = status
        detail = event.get("progressDetail") or {}
        if status == "Downloading" and isinstance(detail, Mapping):
            layer.current = int(detail.get("current") or 0)
            layer.total = int(detail.get("total") or 0)
        elif status in ("Download complete", "Pull complete", "Already exists"):
            layer.current = layer.total

    def line(self) -> str:
        layers = self._layers.values()
        done = sum(1 for layer in layers if layer.status in ("Pull complete", "Already exists"))
        total_bytes = sum(layer.total for layer in layers)
        text = f"pulling image {self.image}"
        if self._layers:
            text += f": {done} of {len(self._layers)} layers"
        if total_bytes:
            got = sum(layer.current for layer in layers)
            text += f", {format_bytes(got)} of {format_bytes(total_bytes)}"
        return text

    def emit(self, *, final: bool = False) -> str | None:
        """The line to show now, or None when the last one is too recent."""
        now = self.clock()
        if not final and self._last is not None and now - self._last < self.interval:
            return None
        self._last = now
        return self.line()
