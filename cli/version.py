"""``swarmctl version``: the client's version and the node's id, role and version."""

from __future__ import annotations

import argparse
from typing import Any

from cli.connection import ControlConnection
from cli.output import render_sections, write_json, write_text

__all__ = ["register", "run"]


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser(
        "version",
        parents=[common],
        help="show the client and server versions",
        description="Show the client version and the node's id, role and version.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, connection: ControlConnection, client_version: str) -> int:
    with connection:
        server = connection.request("version")
    document: dict[str, Any] = {
        "client": {"version": client_version},
        "server": {
            "node_id": server["node_id"],
            "role": server["role"],
            "version": server["version"],
        },
    }
    locked = bool(server.get("locked"))  # a locked manager answers only version and unlock
    if locked:
        document["server"]["locked"] = True
    if args.format == "json":
        write_json(document)
    else:
        rows = [
            ("Node ID", document["server"]["node_id"]),
            ("Role", document["server"]["role"]),
            ("Version", document["server"]["version"]),
        ]
        if locked:
            rows.append(("Locked", "yes (run swarmctl unlock)"))
        write_text(render_sections({"Client": [("Version", client_version)], "Server": rows}))
    return 0
