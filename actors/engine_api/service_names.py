"""A name for a service created without one (pure).

Docker names such a service itself (``docker service create IMAGE`` works without
``--name``): dockerd gives it an ``adjective_surname`` name before SwarmKit, which needs one,
sees the spec. The Engine API does the same, so the control API still gets a named spec.
The words are our own; the shape is Docker's (a valid service name: lowercase letters and
one underscore).
"""

from __future__ import annotations

import random
from typing import Final

__all__ = ["random_service_name"]

_ADJECTIVES: Final = (
    "agile", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring",
    "eager", "fair", "fancy", "fierce", "gentle", "glad", "golden", "happy", "hardy",
    "humble", "jolly", "keen", "kind", "lively", "lucid", "lucky", "merry", "mighty",
    "modest", "nimble", "noble", "patient", "plucky", "polite", "proud", "quick", "quiet",
    "rapid", "ready", "sharp", "shiny", "silent", "sleek", "smart", "snappy", "steady",
    "sunny", "swift", "tender", "tidy", "vivid", "warm", "wise", "witty", "zesty",
)  # fmt: skip

# people of computing and science
_SURNAMES: Final = (
    "babbage", "backus", "boole", "brattain", "cerf", "church", "codd", "conway", "curie",
    "dijkstra", "engelbart", "euler", "faraday", "fermi", "feynman", "gauss", "godel",
    "hamilton", "hamming", "hopper", "huffman", "kahn", "kay", "knuth", "lamport",
    "lovelace", "mccarthy", "meitner", "milner", "minsky", "newton", "noether", "pascal",
    "perlman", "ritchie", "shannon", "shaw", "sutherland", "tarjan", "thompson", "torvalds",
    "turing", "wirth", "wozniak",
)  # fmt: skip


def random_service_name(rng: random.Random, attempt: int = 0) -> str:
    """``adjective_surname``; a retry after a name in use (``attempt`` > 0) adds a digit,
    as Docker's generator does."""
    name = f"{rng.choice(_ADJECTIVES)}_{rng.choice(_SURNAMES)}"
    return f"{name}{rng.randrange(10)}" if attempt else name
