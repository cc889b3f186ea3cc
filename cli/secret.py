"""``swarmctl secret create|ls|inspect|rm`` (cli/file_objects.py): a secret's data goes to
the cluster and never comes back."""

from __future__ import annotations

import argparse
from typing import Any

from cli.file_objects import FileNoun, register_noun

__all__ = ["SECRET", "register"]

SECRET = FileNoun("secret", "create, list, inspect and remove secrets", shows_data=False)


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    register_noun(groups, common, SECRET)
