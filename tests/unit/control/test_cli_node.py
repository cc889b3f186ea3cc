"""``swarmctl node inspect|promote|demote|drain|pause|activate|rm`` take several nodes,
as ``docker node`` does (cli/node.py), driven with a recording control connection."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from cli.ctl import parse
from cli.errors import CliError


class Recording:
    """A control connection that answers each request for a node with that node, and
    refuses the node named ``missing``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def request(self, type_: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if type_ == "version":  # the node whose control socket this is
            return {"node_id": "id-own"}
        node = str((body or {})["node"])
        self.calls.append((type_, dict(body or {})))
        if node == "missing":
            raise CliError("no such node: missing")
        summary = {
            "id": f"id-{node}", "hostname": node, "role": "worker", "status": "ready",
            "message": "", "availability": "active", "address": "127.0.0.1",
            "manager_status": None, "labels": {}, "engine_version": "",
            "executor": "process" if node == "w2" else "",
        }  # fmt: skip
        if node == "w3":  # a manager of the TLS reports: w3 reported, w4 never did
            summary["tls"] = {
                "trust_roots": ["root1", "root2"],
                "cert_issuer_subject": "MBMxETAP",
                "cert_issuer_public_key": "MFkwEwYH",
            }
        elif node == "w4":
            summary["tls"] = None
        return {"id": f"id-{node}", "node": {"id": f"id-{node}"}, "summary": summary}


def run(*words: str) -> tuple[Recording, int]:
    _parser, args = parse(["node", *words])
    connection = Recording()
    return connection, int(args.run(args, connection, "test"))


@pytest.mark.parametrize(
    ("verb", "change"),
    [
        ("promote", {"role": "manager"}),
        ("demote", {"role": "worker"}),
        ("drain", {"availability": "drain"}),
        ("pause", {"availability": "pause"}),
        ("activate", {"availability": "active"}),
    ],
)
def test_a_short_verb_changes_every_node_named(
    verb: str, change: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    connection, code = run(verb, "w1", "w2")
    assert code == 0
    assert connection.calls == [
        ("control.node.update", {"node": "w1", **change}),
        ("control.node.update", {"node": "w2", **change}),
    ]
    assert capsys.readouterr().out.split() == ["id-w1", "id-w2"]


def test_rm_removes_every_node_named_and_inspect_shows_each() -> None:
    connection, _code = run("rm", "--force", "w1", "w2")
    assert connection.calls == [
        ("control.node.rm", {"node": "w1", "force": True}),
        ("control.node.rm", {"node": "w2", "force": True}),
    ]
    connection, _code = run("inspect", "w1", "w2")
    assert [body["node"] for _type, body in connection.calls] == ["w1", "w2"]


def test_json_is_one_document_for_one_node_and_a_list_for_several(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run("promote", "--format", "json", "w1")
    assert json.loads(capsys.readouterr().out) == {"id": "id-w1"}
    run("promote", "--format", "json", "w1", "w2")
    assert json.loads(capsys.readouterr().out) == [{"id": "id-w1"}, {"id": "id-w2"}]
    run("inspect", "--format", "json", "w1", "w2")
    assert json.loads(capsys.readouterr().out) == [{"id": "id-w1"}, {"id": "id-w2"}]


def test_the_first_refusal_stops_and_names_the_node(capsys: pytest.CaptureFixture[str]) -> None:
    _parser, args = parse(["node", "demote", "w1", "missing", "w2"])
    connection = Recording()
    with pytest.raises(CliError, match="no such node: missing"):
        args.run(args, connection, "test")
    assert [body["node"] for _type, body in connection.calls] == ["w1", "missing"]
    assert capsys.readouterr().out.split() == ["id-w1"]


def test_update_still_takes_one_node() -> None:
    with pytest.raises(SystemExit):
        parse(["node", "update", "--availability", "drain", "w1", "w2"])


def test_inspect_self_is_the_node_of_the_control_socket(capsys: pytest.CaptureFixture[str]) -> None:
    """``docker node inspect self``: the node the control socket belongs to (it used to be
    looked up as a node named "self": "no such node: self")."""
    connection, code = run("inspect", "self", "w2")
    assert code == 0
    asked = [body["node"] for type_, body in connection.calls if type_ == "control.node.inspect"]
    assert asked == ["id-own", "w2"]
    out = capsys.readouterr().out
    assert "id-id-own" in out
    # the node's executor, when it reported one (w2's), as Docker shows its engine
    assert out.count("Executor") == 1 and "Executor       : process" in out


def test_inspect_shows_the_certificate_the_node_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Docker's TLS Info, as the node reported it: the roots it trusts (digests) and its
    issuer's subject and public key (base64); a node that never reported says so."""
    run("inspect", "w3", "w4", "w1")
    w3, w4, w1 = capsys.readouterr().out.split("\n\n")
    assert "TLS Trust Roots       : root1, root2" in w3
    assert "TLS Issuer Subject    : MBMxETAP" in w3
    assert "TLS Issuer Public Key : MFkwEwYH" in w3
    assert "TLS Info       : not reported" in w4
    assert "TLS" not in w1  # a manager older than the report: nothing to show
