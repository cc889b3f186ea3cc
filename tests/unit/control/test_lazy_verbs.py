"""A noun's verbs get their flags only when chosen (cli/lazy_verbs.py), and read, refuse and
explain a command line exactly as when every verb is built up front."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from cli.ctl import build_parser

SERVICE_LINES = [
    ["service", "create", "--name", "web", "--replicas", "2", "--env", "A=1", "img", "sh"],
    ["service", "create", "--detach", "--restart-delay", "0s", "img"],
    ["service", "ls", "-q"],
    ["service", "--format", "json", "ps", "web"],
    ["service", "logs", "--tail", "5", "web"],
    ["service", "inspect", "web"],
    ["service", "scale", "web=3", "api=1"],
    ["service", "update", "--image", "img:2", "--env-add", "B=2", "web"],
    ["service", "rollback", "web"],
    ["service", "history", "web"],
    ["service", "rebalance", "web"],
    ["service", "rm", "web", "api"],
]
BAD_LINES = [
    ["service", "create"],
    ["service", "create", "--replicas", "x", "img"],
    ["service", "update", "--bogus", "web"],
    ["service", "scale"],
    ["service", "frobnicate"],
]


def _verbs(parser: argparse.ArgumentParser, noun: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    nouns = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    noun_parser = nouns.choices[noun]
    return next(a for a in noun_parser._actions if isinstance(a, argparse._SubParsersAction))


def eager(noun: str = "service") -> argparse.ArgumentParser:
    """The parser with every verb of ``noun`` built before it reads anything."""
    parser = build_parser(noun)
    for _name, verb in _verbs(parser, noun).choices.items():
        assert verb._actions  # walking the parsers builds them
    return parser


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def test_parsing_a_command_builds_only_its_verb() -> None:
    parser = build_parser("service")
    parser.parse_args(["service", "create", "--replicas", "1", "img"])
    verbs = dict.items(_verbs(parser, "service").choices)  # a look that builds nothing
    built = {name for name, verb in verbs if _flags(verb) - {"-h", "--help", "--format"}}
    assert built == {"create"}


@pytest.mark.parametrize("words", SERVICE_LINES, ids=" ".join)
def test_a_command_line_reads_as_with_every_verb_built(words: list[str]) -> None:
    assert vars(build_parser("service").parse_args(words)) == vars(eager().parse_args(words))


@pytest.mark.parametrize("words", BAD_LINES, ids=" ".join)
def test_errors_are_as_with_every_verb_built(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as lazy:
        build_parser("service").parse_args(words)
    lazy_err = capsys.readouterr().err
    with pytest.raises(SystemExit) as built:
        eager().parse_args(words)
    assert lazy.value.code == built.value.code == 2
    assert lazy_err == capsys.readouterr().err


@pytest.mark.parametrize("words", [["service", "--help"], ["service", "update", "--help"]])
def test_help_is_as_with_every_verb_built(words: list[str]) -> None:
    def help_of(parser: argparse.ArgumentParser) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            parser.parse_args(words)
        return out.getvalue()

    assert help_of(build_parser("service")) == help_of(eager())
