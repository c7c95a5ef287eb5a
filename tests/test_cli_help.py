"""Every help text prints as written: brackets are text (not terminal markup), usage lines name
arguments as the docs do."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from edgehar.cli import app

BRACKETS = re.compile(r"\[[^\[\]]*\]")


def _commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_walk_finds_every_command_and_help_texts_with_brackets():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"train", "export", "stream", "serve", "record", "data fetch", "data info"} <= names
    sources = [p.help or "" for _, c in COMMANDS for p in c.params] + [c.help or "" for _, c in COMMANDS]
    assert sum(len(BRACKETS.findall(text)) for text in sources) >= 10


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "edgehar")
def test_help_shows_every_bracket_of_its_source_text_at_a_narrow_terminal(path):
    command = dict(COMMANDS)[path]
    shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "50", "TERM": "xterm-256color"},
                               color=True)
    assert shown.exit_code == 0, shown.output
    rendered = _squeeze(shown.output)
    for text in [command.help or ""] + [p.help or "" for p in command.params]:
        for bracket in BRACKETS.findall(text):
            assert _squeeze(bracket) in rendered, (path, bracket)
    assert "\x1b[9m" not in shown.output  # nothing struck through
    usage = shown.output.split("\n", 1)[0]
    assert "{" not in usage, usage


def test_usage_lines_name_arguments_in_capitals():
    def usage(command: str) -> str:
        return CliRunner().invoke(app, [command, "--help"]).output.split("\n", 1)[0]

    assert usage("export") == "Usage: edgehar export [OPTIONS] BUNDLE"
    assert usage("bench") == "Usage: edgehar bench [OPTIONS] [BUNDLE]"


def test_the_publish_help_keeps_its_optional_parts():
    shown = _squeeze(CliRunner().invoke(app, ["stream", "--help"], env={"COLUMNS": "60"}).output)
    assert _squeeze("mqtt[s]://[USER[:PASS]@]HOST[:PORT]/TOPIC (needs edgehar[mqtt])") in shown
