"""``swarmctl config create|ls|inspect|rm`` (cli/file_objects.py): files for services that
are not secret; ``inspect`` shows their data."""

from __future__ import annotations

import argparse
from typing import Any

from cli.file_objects import FileNoun, register_noun

__all__ = ["CONFIG", "register"]

CONFIG = FileNoun("config", "create, list, inspect and remove configs", shows_data=True)


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    register_noun(groups, common, CONFIG)
