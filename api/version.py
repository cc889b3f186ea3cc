"""The software's version, in one place: setup.cfg reads it (``attr:``), so the installed
package's metadata says the same, and swarmctl reports it without importlib.metadata
(which costs a command-line client more than its own modules)."""

from __future__ import annotations

from typing import Final

__all__ = ["VERSION"]

VERSION: Final = "0.1.0"
