"""The cut-over runbook's "Rolling upgrade" commands exist in the CLI.

Every shell line of that section that runs ``sfeventlog`` (in a fenced or
an indented code block, after ``NAME=value`` prefixes or an ``unshare``
wrapper) is parsed by the real parser, and each flag must be one the
(sub)command defines, spelt out in full: argparse would accept an
abbreviation, which a later flag could make ambiguous.  So the runbook
cannot drift from the CLI.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from sfeventlog.cli.main import build_parser

RUNBOOK = Path(__file__).resolve().parent.parent / "docs" / "runbook-cutover.md"
SECTION = "Rolling upgrade"

_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_PLACEHOLDER = re.compile(r"<[a-z][a-z0-9-]*>")
_STOP = {"|", "&", "&&", ";", "||"}


def section(text: str, title: str) -> str:
    """The body of ``## title``, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"{RUNBOOK.name} has no section '## {title}'"
    return match.group(1)


def code_lines(markdown: str) -> list[str]:
    """Lines of fenced blocks (except ``text`` output blocks) and indented blocks."""
    lines: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "sh")
            continue
        if fence is not None:
            if fence != "text":
                lines.append(stripped)
        elif line.startswith("    ") and stripped:
            lines.append(stripped)
    return lines


def sfeventlog_argv(line: str) -> list[str] | None:
    """The arguments after ``sfeventlog`` in a shell line, or None if it runs none."""
    tokens = shlex.split(_PLACEHOLDER.sub("placeholder", line), comments=True)
    i = 0
    while i < len(tokens) and _ENV.fullmatch(tokens[i]):
        i += 1
    if i < len(tokens) and tokens[i] == "unshare":
        i += 1
        while i < len(tokens) and tokens[i].startswith("-"):
            i += 1
    if i >= len(tokens) or tokens[i] != "sfeventlog":
        return None
    argv = []
    for token in tokens[i + 1:]:
        if token in _STOP or token.startswith((">", "2>")):
            break
        argv.append(token)
    return argv


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def problems(argv: list[str]) -> list[str]:
    """Why ``sfeventlog argv`` would not run as written; empty if it would."""
    found = []
    parser = build_parser()
    current = parser
    for token in argv:
        if token.startswith("-") and not re.fullmatch(r"-[0-9.]+", token):
            flag = token.split("=", 1)[0]
            if flag not in current._option_string_actions:
                found.append(f"{current.prog} has no flag {flag}")
        elif token in _subcommands(current):
            current = _subcommands(current)[token]
    try:
        parser.parse_args(argv)
    except SystemExit:
        found.append(f"argparse refuses: sfeventlog {shlex.join(argv)}")
    return found


def rolling_upgrade_commands() -> list[list[str]]:
    lines = code_lines(section(RUNBOOK.read_text(), SECTION))
    return [argv for argv in map(sfeventlog_argv, lines) if argv is not None]


def _collected() -> list[list[str]]:
    # A missing section fails test_the_section_..., not the whole module's collection.
    try:
        return rolling_upgrade_commands()
    except AssertionError:
        return []


def test_the_section_runs_the_checks_an_operator_needs() -> None:
    commands = {shlex.join(argv) for argv in rolling_upgrade_commands()}
    for needed in ("status", "-v drain --once", "config check --connect", "transports --check"):
        assert needed in commands, f"'sfeventlog {needed}' missing from '{SECTION}'"


@pytest.mark.parametrize("argv", _collected(), ids=shlex.join)
def test_every_command_parses_with_real_flags(argv: list[str]) -> None:
    assert problems(argv) == []


@pytest.mark.parametrize("line, why", [
    ("sfeventlog drain --once --no-such-flag", "drain has no flag --no-such-flag"),
    ("sfeventlog drain --onc", "drain has no flag --onc"),  # an abbreviation
    ("SHAKENFIST_EVENTLOG_TRANSPORT=database sfeventlog status --spool /x",
     "status has no flag --spool"),
    ("sfeventlog --verbose-ish status", "sfeventlog has no flag --verbose-ish"),
    ("sfeventlog rescue --once", "argparse refuses"),
    ("unshare --pid --fork sfeventlog config check --conect", "check has no flag --conect"),
])
def test_a_command_the_cli_lacks_is_caught(line: str, why: str) -> None:
    argv = sfeventlog_argv(line)
    assert argv is not None
    assert any(why in p for p in problems(argv)), problems(argv)


def test_extraction_reads_fences_and_indents_but_not_output() -> None:
    text = ("x\n\n    sfeventlog status\n\n```sh\nA=1 sfeventlog drain --once &\n```\n"
            "```text\nsfeventlog-drain-1.db  live\nsfeventlog status --bogus\n```\n"
            "   prose sfeventlog status\n")
    argvs = [a for a in map(sfeventlog_argv, code_lines(text)) if a is not None]
    assert argvs == [["status"], ["drain", "--once"]]
    assert sfeventlog_argv("sfeventlog events instance <instance-uuid> --mariadb") == [
        "events", "instance", "placeholder", "--mariadb"]
