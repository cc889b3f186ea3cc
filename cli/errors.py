"""The one error type commands raise: printed on stderr, each of its lines after the
program's name (one line, or one per refusal), non-zero exit."""

from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["CliError", "OneLineParser"]


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit 2) instead of a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
