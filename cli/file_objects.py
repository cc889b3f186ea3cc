"""``swarmctl secret|config create|ls|inspect|rm``: one implementation, two nouns
(cli/secret.py, cli/config.py), as ``docker secret`` and ``docker config``.

- ``create NAME [FILE|-] [--label K=V] [--template-driver golang]``: the data comes from
  FILE, or from stdin when FILE is ``-`` or not given; more than 500 KiB, or nothing, is
  refused before anything is sent. With a template driver the data is a template each
  task's node expands (api/payload_templates.py).
- ``ls [-q]``: ID, NAME, CREATED, UPDATED. ``inspect NAME...``: the objects; a config's
  data is shown (as text, or base64 in ``--format json``, as Docker's JSON shows bytes), a
  secret's never reaches swarmctl. ``rm NAME...``: prints the names given (``--format
  json``: the ids removed); one a service uses is refused with the services' names.
"""

from __future__ import annotations

import argparse
import base64
import sys
from dataclasses import dataclass
from typing import Any, BinaryIO

from cli.argtypes import KEY_VALUE
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.output import render_table, write_json, write_text
from cli.remove_each import remove_each
from cli.service_ps import ago

__all__ = ["FileNoun", "read_data", "register_noun"]

MAX_DATA_BYTES = 500 * 1024  # api.secret_validation.MAX_DATA_BYTES, without importing it


@dataclass(frozen=True)
class FileNoun:
    name: str  # "secret" | "config": the noun and the control requests' kind
    summary: str
    shows_data: bool


def register_noun(groups: Any, common: argparse.ArgumentParser, noun: FileNoun) -> None:
    parser = groups.add_parser(noun.name, parents=[common], help=noun.summary)
    verbs = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser(
        "create", parents=[common], help=f"create a {noun.name} from a file or stdin"
    )
    create.add_argument("name", metavar="NAME", help=f"the {noun.name}'s name")
    create.add_argument(
        "file",
        metavar="FILE|-",
        nargs="?",
        default="-",
        help=f"the {noun.name}'s data: a file, or - (the default) for stdin",
    )
    create.add_argument(
        "--label",
        dest="labels",
        action="append",
        type=KEY_VALUE,
        default=[],
        metavar="KEY=VALUE",
        help="a label (repeatable)",
    )
    create.add_argument(
        "--template-driver",
        default="",
        metavar="DRIVER",
        help="the data is a template for this driver (golang), expanded for each task",
    )
    create.set_defaults(run=lambda a, c, v: run_create(noun, a, c))

    ls = verbs.add_parser("ls", parents=[common], help=f"list {noun.name}s")
    ls.add_argument("-q", "--quiet", action="store_true", help="only ids")
    ls.set_defaults(run=lambda a, c, v: run_ls(noun, a, c))

    shown = "with its data" if noun.shows_data else "never its data"
    inspect = verbs.add_parser(
        "inspect", parents=[common], help=f"show {noun.name}s in detail ({shown})"
    )
    inspect.add_argument(
        "refs", nargs="+", metavar=noun.name.upper(), help=f"{noun.name}s (name, id or prefix)"
    )
    inspect.set_defaults(run=lambda a, c, v: run_inspect(noun, a, c))

    rm = verbs.add_parser("rm", parents=[common], help=f"remove {noun.name}s no service uses")
    rm.add_argument(
        "refs", nargs="+", metavar=noun.name.upper(), help=f"{noun.name}s (name, id or prefix)"
    )
    rm.set_defaults(run=lambda a, c, v: run_rm(noun, a, c))


def read_data(source: str, what: str, stdin: BinaryIO | None = None) -> bytes:
    """The bytes of ``source`` (a path, or ``-`` for stdin), at most ``MAX_DATA_BYTES``."""
    try:
        if source == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            data = stream.read(MAX_DATA_BYTES + 1)
        else:
            with open(source, "rb") as f:
                data = f.read(MAX_DATA_BYTES + 1)
    except OSError as exc:
        raise CliError(f"cannot read {source}: {exc.strerror or exc}") from None
    where = "stdin" if source == "-" else source
    if len(data) > MAX_DATA_BYTES:
        raise CliError(f"{what} data from {where} is over the limit of 500 KiB")
    if not data:
        raise CliError(f"{what} data from {where} is empty")
    return data


def run_create(noun: FileNoun, args: argparse.Namespace, connection: ControlConnection) -> int:
    from api.codec_objects import encode_sparse
    from api.secret_validation import validate_config_spec, validate_secret_spec
    from api.specs import ConfigSpec, SecretSpec
    from api.validation import InvalidSpec

    data = read_data(args.file, noun.name)
    labels = dict(args.labels)
    spec: SecretSpec | ConfigSpec
    try:
        if noun.name == "secret":
            spec = SecretSpec(
                name=args.name, labels=labels, data=data, templating=args.template_driver
            )
            validate_secret_spec(spec)
        else:
            spec = ConfigSpec(
                name=args.name, labels=labels, data=data, templating=args.template_driver
            )
            validate_config_spec(spec)
    except InvalidSpec as exc:
        raise CliError(str(exc)) from None
    with connection:
        reply = connection.request(f"control.{noun.name}.create", {"spec": encode_sparse(spec)})
    if args.format == "json":
        write_json(reply[noun.name])
    else:
        write_text(reply["id"])
    return 0


def run_ls(noun: FileNoun, args: argparse.Namespace, connection: ControlConnection) -> int:
    with connection:
        rows = connection.request(f"control.{noun.name}.ls", {})[f"{noun.name}s"]
    if args.format == "json":
        write_json(rows)
    elif args.quiet:
        write_text("\n".join(r["id"] for r in rows))
    else:
        table = [(r["id"], r["name"], ago(r["created_at"]), ago(r["updated_at"])) for r in rows]
        write_text(render_table(("id", "name", "created", "updated"), table))
    return 0


def _json_safe(doc: dict[str, Any]) -> dict[str, Any]:
    spec = dict(doc["spec"])
    if isinstance(spec.get("data"), bytes):
        spec["data"] = base64.b64encode(spec["data"]).decode("ascii")
    return {**doc, "spec": spec}


def describe(doc: dict[str, Any]) -> str:
    spec = doc["spec"]
    meta = doc["meta"]
    rows = [("ID", doc["id"]), ("Name", spec["name"])]
    if spec["labels"]:
        rows.append(("Labels", ", ".join(f"{k}={v}" for k, v in spec["labels"].items())))
    if spec.get("templating"):
        rows.append(("Templating", spec["templating"]))
    rows += [("Created", ago(meta["created_at"])), ("Updated", ago(meta["updated_at"]))]
    width = max(len(k) for k, _ in rows)
    text = "\n".join(f"{k:<{width}} : {v}" for k, v in rows)
    data = spec.get("data")
    if isinstance(data, bytes):
        text += "\nData:\n" + data.decode("utf-8", "replace").rstrip("\n")
    return text


def run_inspect(noun: FileNoun, args: argparse.Namespace, connection: ControlConnection) -> int:
    with connection:
        docs = [
            connection.request(f"control.{noun.name}.inspect", {noun.name: ref})[noun.name]
            for ref in args.refs
        ]
    if args.format == "json":
        write_json([_json_safe(d) for d in docs])
    else:
        write_text("\n\n".join(describe(d) for d in docs))
    return 0


def run_rm(noun: FileNoun, args: argparse.Namespace, connection: ControlConnection) -> int:
    """Each on its own (remove_each.py): one in use keeps none of the others."""
    with connection:
        removal = remove_each(
            args.refs,
            lambda ref: connection.request(f"control.{noun.name}.rm", {f"{noun.name}s": [ref]}),
            # the names given, as docker secret|config rm prints them
            echo=None if args.format == "json" else lambda ref, _reply: ref,
        )
    if args.format == "json":
        write_json([oid for reply in removal.removed for oid in reply["removed"]])  # the ids
    return removal.finish()
