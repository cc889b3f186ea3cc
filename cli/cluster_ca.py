"""``swarmctl cluster ca``: the cluster's root CA certificate (PEM), as ``docker swarm ca``
prints it."""

from __future__ import annotations

import argparse
from typing import Any

from cli.connection import ControlConnection
from cli.errors import CliError
from cli.output import write_json, write_text

__all__ = ["add_ca_verb"]


def add_ca_verb(verbs: Any, common: argparse.ArgumentParser) -> None:
    ca = verbs.add_parser("ca", parents=[common], help="show the cluster's root CA certificate")
    ca.set_defaults(run=run_ca)


def _root_pem(cluster: dict[str, Any]) -> str:
    pem = str((cluster.get("root_ca") or {}).get("ca_cert") or "")
    if not pem:
        raise CliError("No CA information available")  # docker swarm ca's words
    return pem.strip()


def run_ca(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        cluster = connection.request("control.cluster.inspect", {})["cluster"]
    pem = _root_pem(cluster)
    if args.format == "json":
        write_json({"ca_cert": pem + "\n"})
    else:
        write_text(pem)
    return 0
