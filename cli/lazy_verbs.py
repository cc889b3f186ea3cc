"""Sub-commands whose arguments are added only when the command line chooses them.

A noun's verbs are registered by name and summary up front (``--help`` lists them, an
unknown verb is refused as before); each verb's flags are added by its ``build`` function
the first time its parser is looked up: when argparse dispatches to it, or when code walks
the parsers (``choices.items()``, ``choices[name]``). ``swarmctl service create`` so builds
create's flags only, not those of all ten verbs (each ``add_argument`` makes a help
formatter that asks the terminal's size: ~180 of them were a fifth of swarmctl's start).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["LazyVerbs", "lazy_verbs"]

Build = Callable[[argparse.ArgumentParser], None]


class _Parsers(dict[str, argparse.ArgumentParser]):
    """Parsers by name; a parser is given its arguments the first time it is looked up."""

    def __init__(self) -> None:
        super().__init__()
        self.builders: dict[str, Build] = {}

    def _built(self, name: str) -> argparse.ArgumentParser:
        parser = dict.__getitem__(self, name)
        build = self.builders.pop(name, None)
        if build is not None:
            build(parser)
        return parser

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        return self._built(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self._built(name) if name in self else default

    def values(self) -> Iterator[argparse.ArgumentParser]:  # type: ignore[override]
        return (self._built(name) for name in list(self))

    def items(self) -> Iterator[tuple[str, argparse.ArgumentParser]]:  # type: ignore[override]
        return ((name, self._built(name)) for name in list(self))


class LazyVerbs(argparse._SubParsersAction):  # type: ignore[type-arg]
    """``add_subparsers(action=LazyVerbs)``: ``add_verb`` defers a verb's arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parsers = _Parsers()
        self._name_parser_map = self.choices = self._parsers

    def add_verb(self, name: str, build: Build, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.add_parser(name, **kwargs)
        self._parsers.builders[name] = build
        return parser


def lazy_verbs(parser: argparse.ArgumentParser, **kwargs: Any) -> LazyVerbs:
    """``parser``'s sub-commands, as ``add_subparsers(**kwargs)`` but lazily built."""
    verbs = parser.add_subparsers(action=LazyVerbs, **kwargs)
    assert isinstance(verbs, LazyVerbs)
    return verbs
