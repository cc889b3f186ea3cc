"""swarmctl builds only the noun its command line names, and reads it as the full parser."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from cli.ctl import NOUNS, PLANNED_GROUPS, build_parser, named_noun, parse

COMMAND_LINES = [
    ["version"],
    ["version", "--format", "json"],
    ["--socket", "/run/s.sock", "service", "ls", "-q"],
    ["--timeout", "3", "node", "update", "--availability", "drain", "n1"],
    ["--socket=/tmp/x", "cluster", "join-token", "-q", "worker"],
    ["service", "create", "--name", "web", "--replicas", "2", "--env", "A=1", "img", "sh"],
    ["task", "ls", "--service", "web"],
    ["unlock"],
    ["events"],
    # an abbreviated option whose value is a noun: told wrongly beforehand, parsed again
    ["--sock", "version", "node", "ls"],
    ["--socket", "service", "task", "inspect", "t1"],
]


def commands(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {choice.dest: choice.help for choice in groups._choices_actions}


def test_every_noun_is_listed_with_its_modules_summary() -> None:
    full = commands(build_parser())
    assert list(full) == [*NOUNS, *PLANNED_GROUPS]
    for name, (_module, summary) in NOUNS.items():
        assert full[name] == summary, name
        assert commands(build_parser(name)) == full  # the same list, whichever is built


@pytest.mark.parametrize("words", COMMAND_LINES, ids=" ".join)
def test_a_command_line_reads_as_with_the_full_parser(words: list[str]) -> None:
    _parser, args = parse(words)
    assert vars(args) == vars(build_parser().parse_args(words))


@pytest.mark.parametrize(
    ("words", "noun"),
    [
        (["version"], "version"),
        (["--socket", "/s", "service", "ls"], "service"),
        (["--socket", "node", "task", "ls"], "task"),  # the value of --socket is no noun
        (["--timeout=2", "cluster", "inspect"], "cluster"),
        (["-h"], None),
        ([], None),
        (["bogus", "version"], None),  # the full parser refuses 'bogus'
        (["events"], "events"),
    ],
)
def test_named_noun(words: list[str], noun: str | None) -> None:
    assert named_noun(words) == noun


def test_only_the_named_nouns_verbs_are_built() -> None:
    parser = build_parser("version")
    groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    service = groups.choices["service"]
    assert not any(isinstance(a, argparse._SubParsersAction) for a in service._actions)


def test_errors_are_the_full_parsers(capsys: pytest.CaptureFixture[str]) -> None:
    for words in (["bogus"], ["service", "bogus"], ["--timeout", "x", "version"]):
        with pytest.raises(SystemExit) as partial:
            parse(words)
        partial_err = capsys.readouterr().err
        with pytest.raises(SystemExit) as full:
            build_parser().parse_args(words)
        assert partial.value.code == full.value.code == 2
        assert partial_err == capsys.readouterr().err, words


def test_top_level_help_is_the_full_parsers() -> None:
    def help_of(run: object) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            run()  # type: ignore[operator]
        return out.getvalue()

    full = help_of(lambda: build_parser().parse_args(["--help"]))
    assert help_of(lambda: parse(["--help", "service", "ls"])) == full
    assert help_of(lambda: parse(["--help"])) == full


@pytest.mark.parametrize("value", ["-1", "0", "inf", "nan", "abc"])
def test_a_timeout_that_is_no_positive_number_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--timeout -1`` crashed the socket probe with a traceback."""
    with pytest.raises(SystemExit) as info:
        parse([f"--timeout={value}", "version"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("swarmctl: error: argument --timeout:")


def test_a_positive_timeout_is_taken() -> None:
    assert parse(["--timeout", "2.5", "version"])[1].timeout == 2.5
