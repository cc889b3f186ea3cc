"""Which Engine API versions this endpoint speaks, and the version of a request (pure).

Requests may name a version (``/v1.50/services``) or not (``/_ping``, the SDK's first
``/version``): without one a request is at `API_VERSION`, as dockerd's. A version above
`API_VERSION` or below `MIN_API_VERSION` is refused with Docker's own words; the docker
CLI and SDK negotiate down from `/_ping` and `/version`. What changes with a request's
version is compat.py's.
"""

from __future__ import annotations

import re
from typing import Final

from actors.engine_api.errors import EngineError

__all__ = ["API_VERSION", "MIN_API_VERSION", "at_least", "split_version"]

API_VERSION: Final = "1.50"  # docker 28.2's; what 1.42-1.50 changed: compat.py
MIN_API_VERSION: Final = "1.24"

_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


def _tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor)


def at_least(version: str, minimum: str) -> bool:
    """``version`` is ``minimum`` or later (``"1.50"`` is later than ``"1.6"``)."""
    return _tuple(version) >= _tuple(minimum)


def split_version(path: str) -> tuple[str, str]:
    """``/v1.50/services`` → ``("1.50", "/services")``; no prefix: ``(API_VERSION, path)``.
    EngineError (400) for a version this endpoint does not speak."""
    match = _PREFIX.match(path)
    if match is None:
        return API_VERSION, path
    version = f"{int(match.group(1))}.{int(match.group(2))}"
    wanted = _tuple(version)
    if wanted > _tuple(API_VERSION):
        raise EngineError(
            400,
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}",
        )
    if wanted < _tuple(MIN_API_VERSION):
        raise EngineError(
            400,
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version",
        )
    return version, match.group(3)
