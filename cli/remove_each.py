"""``rm`` of several objects one by one, as each of ``docker service|network|secret|config|
node rm`` does: each named object is removed on its own request, its name printed once it is
gone; each one that cannot be (in use, no such object) is named on a stderr line of its
own after the others were tried, exit 1. Removing a list where one is in use still removes
the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cli.errors import CliError
from cli.output import write_text

__all__ = ["Removal", "remove_each"]

T = TypeVar("T")


@dataclass(slots=True)
class Removal(Generic[T]):
    removed: list[T] = field(default_factory=list)  # each removal's reply, in order
    refused: list[str] = field(default_factory=list)  # each refusal's message

    def finish(self) -> int:
        """Exit 0, or exit 1 with each refusal on its own line (as docker's ``rm``)."""
        if self.refused:
            raise CliError("\n".join(self.refused))
        return 0


def remove_each(
    refs: Sequence[str], remove: Callable[[str], T], *, echo: Callable[[str, T], str] | None
) -> Removal[T]:
    """``remove(ref)`` for each ref named (once, in order); ``echo`` gives the line printed
    for a removed one (None: nothing, as with ``--format json``)."""
    removal: Removal[T] = Removal()
    for ref in dict.fromkeys(refs):
        try:
            reply = remove(ref)
        except CliError as exc:
            removal.refused.append(str(exc))
            continue
        removal.removed.append(reply)
        if echo is not None:
            write_text(echo(ref, reply))
    return removal
