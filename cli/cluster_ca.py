"""``swarmctl cluster ca [--rotate [--ca-cert FILE --ca-key FILE] [-d] [-q]]``.

Without ``--rotate``: the cluster's root CA certificate (PEM), as ``docker swarm ca``
prints it (``--format json`` adds the progress of a rotation under way, ``rotation`` with
converged, total, waiting, and the nodes' TLS, ``tls``). ``--rotate`` starts a root CA
rotation, to a new root the CA makes, cross-signed by the current one (or to the root
``--ca-cert``/``--ca-key`` give, ECDSA P-256), and, unless ``-d``, waits as ``docker swarm
ca --rotate`` does: until every node reports a certificate of the new root (``rotated TLS
certificates: N/M nodes``, with who waits), the rotation completes, and every node
trusts the new root alone (``rotated CA certificates: N/M nodes``, 0 until the
certificates are done, as Docker shows it); each line is shown when it changes. It then
prints the new root (nothing with ``-q``). A node that is down holds the rotation until
it is back or removed; Ctrl-C stops waiting, the rotation goes on."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from cli.connection import ControlConnection
from cli.errors import CliError
from cli.output import write_json, write_text

__all__ = ["POLL_INTERVAL", "add_ca_verb", "progress_lines", "rotation_done", "wait_rotation"]

POLL_INTERVAL: Final = 0.5
MAX_PEM: Final = 8 * 1024  # the control API's bound on a given root's PEM


def add_ca_verb(verbs: Any, common: argparse.ArgumentParser) -> None:
    ca = verbs.add_parser(
        "ca", parents=[common], help="show (or rotate) the cluster's root CA certificate"
    )
    ca.add_argument(
        "--rotate",
        action="store_true",
        help="replace the root CA: a new root and key; every node renews its certificate "
        "under it, then the join tokens change",
    )
    ca.add_argument(
        "--ca-cert",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --rotate and --ca-key: the new root CA certificate (PEM, ECDSA P-256) "
        "instead of one the CA makes",
    )
    ca.add_argument(
        "--ca-key", type=Path, default=None, metavar="FILE", help="its private key (PEM)"
    )
    ca.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="with --rotate: exit at once instead of waiting for the rotation to complete",
    )
    ca.add_argument(
        "-q", "--quiet", action="store_true", help="with --rotate: no progress and no output"
    )
    ca.set_defaults(run=run_ca)


def _root_pem(reply: Mapping[str, Any]) -> str:
    pem = str(reply.get("ca_cert") or "")
    if not pem:
        raise CliError("No CA information available")  # docker swarm ca's words
    return pem.strip()


def rotation_done(reply: Mapping[str, Any]) -> bool:
    """Whether a waiting ``--rotate`` is done, by a ``control.cluster.ca`` reply: no
    rotation under way, and every node reports a certificate of the cluster's root and
    trusts it alone (an older manager, without ``tls``: no rotation under way)."""
    tls = reply.get("tls")
    if reply.get("rotation") or tls is None:
        return not reply.get("rotation")
    return bool(tls["certificates"] == tls["roots"] == tls["total"])


def progress_lines(reply: Mapping[str, Any]) -> tuple[str, ...]:
    """What a waiting ``--rotate`` shows of a ``control.cluster.ca`` reply, in Docker's
    words."""
    rotation = reply.get("rotation")
    waiting = list((rotation or {}).get("waiting") or ())
    shown_waiting = f" (waiting for {', '.join(waiting)})" if waiting else ""
    tls = reply.get("tls")
    if tls is None:  # a manager older than the nodes' reports: its rotation alone
        if not rotation:
            return ()
        done, total = rotation["converged"], rotation["total"]
        return (f"rotation in progress: {done}/{total} nodes{shown_waiting}",)
    total, certificates = int(tls["total"]), int(tls["certificates"])
    certified = not rotation and certificates == total
    roots = int(tls["roots"]) if certified else 0  # Docker's: none while certificates rotate
    return (
        f"desired root digest: {tls['desired_root']}",
        f"  rotated TLS certificates: {certificates}/{total} nodes{shown_waiting}",
        f"  rotated CA certificates: {roots}/{total} nodes",
    )


def wait_rotation(
    fetch: Callable[[], Mapping[str, Any]],
    *,
    show: Callable[[str], None] | None,
    interval: float = POLL_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
) -> Mapping[str, Any]:
    """Poll ``fetch`` (a ``control.cluster.ca`` reply) until `rotation_done`, showing each
    line that changed (the last ones too); the last reply."""
    shown: tuple[str, ...] = ()
    while True:
        reply = fetch()
        lines = progress_lines(reply)
        if show is not None:
            for i, line in enumerate(lines):
                if i >= len(shown) or shown[i] != line:
                    show(line)
        shown = lines
        if rotation_done(reply):
            return reply
        sleep(interval)


def _given_root(args: argparse.Namespace) -> dict[str, bytes]:
    """``--ca-cert`` and ``--ca-key``, read (both or neither)."""
    if args.ca_cert is None and args.ca_key is None:
        return {}
    if args.ca_cert is None or args.ca_key is None:
        raise CliError("--ca-cert and --ca-key go together (an external CA is not supported)")
    given = {}
    for name, path in (("ca_cert", args.ca_cert), ("ca_key", args.ca_key)):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CliError(f"--{name.replace('_', '-')} {path}: {exc.strerror or exc}") from None
        if len(data) > MAX_PEM:
            raise CliError(f"--{name.replace('_', '-')} {path}: more than {MAX_PEM} bytes")
        given[name] = data
    return given


def run_ca(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    for flag, value in (
        ("-d/--detach", args.detach),
        ("-q/--quiet", args.quiet),
        ("--ca-cert", args.ca_cert),
        ("--ca-key", args.ca_key),
    ):
        if value and not args.rotate:
            raise CliError(f"{flag} applies only with --rotate")
    given = _given_root(args)
    reply: Mapping[str, Any]
    with connection:
        if not args.rotate:
            reply = connection.request("control.cluster.ca", {})
        else:
            reply = connection.request("control.cluster.ca", {"rotate": True, **given})
            if args.detach:
                return 0
            show = None if args.quiet or args.format == "json" else _print_now
            try:
                reply = wait_rotation(
                    lambda: connection.request("control.cluster.ca", {}), show=show
                )
            except KeyboardInterrupt:
                if not args.quiet:
                    print("Operation continuing in background.", file=sys.stderr)
                    print("Use 'swarmctl cluster ca' to check progress.", file=sys.stderr)
                return 0  # as docker swarm ca: the rotation was started
            if args.quiet:
                return 0
    pem = _root_pem(reply)
    if args.format == "json":  # with the progress of a rotation under way
        write_json(
            {
                "ca_cert": pem + "\n",
                **({"rotation": reply["rotation"]} if reply.get("rotation") else {}),
                **({"tls": reply["tls"]} if reply.get("tls") else {}),
            }
        )
    else:
        write_text(pem)
    return 0


def _print_now(line: str) -> None:
    print(line, flush=True)
