"""Rendering of command results: one JSON document, or human tables and sections."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TextIO

__all__ = ["Format", "render_sections", "render_table", "write_json", "write_text"]

Format = Literal["table", "json"]
FORMATS: tuple[Format, ...] = ("table", "json")


def write_json(document: Any, out: TextIO | None = None) -> None:
    """Exactly one JSON document on stdout."""
    stream = out or sys.stdout
    json.dump(document, stream, indent=2, sort_keys=False)
    stream.write("\n")


def write_text(text: str, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    stream.write(text if text.endswith("\n") else text + "\n")


def render_sections(sections: Mapping[str, Sequence[tuple[str, str]]]) -> str:
    """``Title:`` followed by aligned ``Key:  value`` lines, per section."""
    lines: list[str] = []
    for title, rows in sections.items():
        lines.append(f"{title}:")
        width = max((len(key) for key, _ in rows), default=0) + 1
        for key, value in rows:
            lines.append(f" {key + ':':<{width}}  {value}")
    return "\n".join(lines)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, headers in capitals, as ``docker ... ls``."""
    cells = [[str(h).upper() for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )
