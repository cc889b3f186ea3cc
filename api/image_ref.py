"""Image references as Docker reads them: which registry an image comes from, so that
credentials go only to the registry they are for.

``busybox`` and ``library/busybox:1`` are on Docker Hub (``docker.io``); a first path
component with a ``.`` or a ``:``, or ``localhost``, names a registry
(``127.0.0.1:5000/app:1``, ``registry.example.com/team/app@sha256:...``). The docker
config names Docker Hub ``https://index.docker.io/v1/``; ``registry_key`` brings both
spellings (and URLs with schemes and paths) to one form. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["DOCKER_HUB", "DOCKER_HUB_INDEX", "ImageRef", "parse_image", "registry_key"]

DOCKER_HUB: Final = "docker.io"
DOCKER_HUB_INDEX: Final = "https://index.docker.io/v1/"  # how the docker config names it
_HUB_ALIASES: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True, slots=True)
class ImageRef:
    registry: str  # "docker.io", "127.0.0.1:5000"
    repository: str  # the path in the registry: "library/busybox", "team/app"
    tag: str = ""  # empty: "latest" unless a digest is given
    digest: str = ""


def parse_image(reference: str) -> ImageRef:
    """ValueError for an empty reference or one with whitespace."""
    ref = reference.strip()
    if not ref or any(ch.isspace() for ch in ref):
        raise ValueError(f"invalid image reference {reference!r}")
    name, _, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    tag = ""
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1 :]
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path:
        raise ValueError(f"invalid image reference {reference!r}")
    return ImageRef(registry=registry.lower(), repository=path, tag=tag, digest=digest)


def registry_key(address: str) -> str:
    """A registry as one comparable string: ``https://index.docker.io/v1/`` and
    ``docker.io`` are ``docker.io``; ``http://127.0.0.1:5000/v2/`` is ``127.0.0.1:5000``."""
    text = address.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    host = text.split("/", 1)[0]
    return DOCKER_HUB if host in _HUB_ALIASES else host
