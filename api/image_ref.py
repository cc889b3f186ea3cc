"""Image references as Docker reads them: which registry an image comes from, so that
credentials go only to the registry they are for.

``busybox`` and ``library/busybox:1`` are on Docker Hub (``docker.io``); a first path
component with a ``.`` or a ``:``, or ``localhost``, names a registry
(``127.0.0.1:5000/app:1``, ``registry.example.com/team/app@sha256:...``). The docker
config names Docker Hub ``https://index.docker.io/v1/``; ``registry_key`` brings both
spellings (and URLs with schemes and paths) to one form.

``check_reference`` refuses what Docker cannot pull, by the grammar of Docker's
references (distribution/reference ``ParseNormalizedNamed``): ``[DOMAIN/]PATH[:TAG][@DIGEST]``,
the path in lower case, components of letters and digits joined by ``.``, ``_``, ``__``
or dashes, a tag of at most 128 word characters, ``.`` and ``-`` (not first), a digest
``ALGORITHM:HEX``, the name at most 255 characters. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_INDEX",
    "ImageRef",
    "check_reference",
    "parse_image",
    "registry_key",
]

DOCKER_HUB: Final = "docker.io"
DOCKER_HUB_INDEX: Final = "https://index.docker.io/v1/"  # how the docker config names it
_HUB_ALIASES: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART: Final = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN: Final = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_REFERENCE_RE: Final = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)
_IMAGE_ID_RE: Final = re.compile(r"[a-f0-9]{64}")
_DIGEST_HEX_LENGTHS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}
MAX_NAME_CHARS: Final = 255  # the repository name, domain included


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


def check_reference(reference: str) -> None:
    """ValueError saying what is wrong unless ``reference`` is one Docker can pull
    (module docstring)."""
    if _IMAGE_ID_RE.fullmatch(reference):
        raise ValueError("an image id of 64 hexadecimal characters is not a repository name")
    first, slash, rest = reference.partition("/")
    names_registry = slash and (
        "." in first or ":" in first or first == "localhost" or first != first.lower()
    )
    path = rest if names_registry else reference
    repository = path.partition("@")[0].partition(":")[0]
    if repository != repository.lower():
        raise ValueError(f"the repository name {repository!r} must be lowercase")
    found = _REFERENCE_RE.fullmatch(reference if names_registry else f"docker.io/{reference}")
    if found is None:
        raise ValueError("invalid reference format")
    if len(found["name"]) > MAX_NAME_CHARS:
        raise ValueError(f"the repository name is over {MAX_NAME_CHARS} characters")
    if found["digest"]:
        algorithm, _, hexdigits = found["digest"].partition(":")
        wanted = _DIGEST_HEX_LENGTHS.get(algorithm)
        if wanted is None:
            raise ValueError(f"unsupported digest algorithm {algorithm!r}")
        if len(hexdigits) != wanted or hexdigits != hexdigits.lower():
            raise ValueError(f"a {algorithm} digest is {wanted} lowercase hexadecimal digits")


def registry_key(address: str) -> str:
    """A registry as one comparable string: ``https://index.docker.io/v1/`` and
    ``docker.io`` are ``docker.io``; ``http://127.0.0.1:5000/v2/`` is ``127.0.0.1:5000``."""
    text = address.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    host = text.split("/", 1)[0]
    return DOCKER_HUB if host in _HUB_ALIASES else host
