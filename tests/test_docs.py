"""The README and the documentation site: short, building strictly, and every shell block either run
by a test or saying why it cannot be.

The convention: the line before each ```bash block in README.md or docs/*.md is a marker,
``<!-- test: run -->`` (this file runs the block as written, in a copy of the checkout, with this
environment's commands on the PATH),
``<!-- test: FILE … -->`` (FILE, a test or .ci/run, runs that route and names the page), or
``<!-- test: none (why) -->``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from checkout import copy_checkout

from edgehar.cli import app

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:^(<!-- test: [^\n]*-->)\n)?^```bash\n(.*?)^```", re.S | re.M)


def _blocks():
    for page in PAGES:
        for marker, body in BLOCK.findall(page.read_text()):
            yield page, marker, body


def test_the_readme_is_a_short_guide_with_set_up_and_own_data_in_its_first_screen():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    first_screen = "\n".join(lines[:60])
    assert "## Set up" in first_screen and "## Your own data" in first_screen
    assert "pip install edgehar`" not in "\n".join(lines)  # not on the index: the wheel route is documented


def test_ci_runs_exactly_the_readmes_test_command():
    readme = (REPO / "README.md").read_text()
    command = re.search(r"# 2\. install everything[^\n]*\n(.*?)\n```", readme, re.S)[1]
    assert command.splitlines()[-1] in (REPO / ".ci" / "run").read_text().splitlines()


def test_every_shell_block_says_how_it_is_tested():
    blocks = list(_blocks())
    assert len(blocks) >= 10
    for page, marker, _ in blocks:
        assert marker, f"{page.name}: a ```bash block without a <!-- test: … --> line before it"
        how = marker[len("<!-- test: "):-len(" -->")]
        if how == "run" or how.startswith("none ("):
            continue
        runner = REPO / how.split()[0]
        assert runner.is_file(), (page.name, how)
        name = "README" if page.name == "README.md" else f"docs/{page.name}"
        assert name in runner.read_text(), f"{runner.name} does not name {name}"


@pytest.mark.parametrize("page, body", [(p, b) for p, m, b in _blocks() if m == "<!-- test: run -->"],
                         ids=lambda x: x.name if isinstance(x, Path) else "")
def test_runnable_shell_blocks_run_as_written(page, body, tmp_path):
    checkout = copy_checkout(tmp_path / "clone")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=checkout, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, (page.name, body, run.stderr[-3000:])
    assert run.stdout.strip(), (page.name, body)


def test_the_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
                           cwd=REPO, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stderr[-3000:]
    assert (site / "raspberry-pi" / "index.html").is_file()


def _commands(command, path=()):
    if getattr(command, "commands", None):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def test_the_commands_page_names_every_command_and_option():
    page = (REPO / "docs" / "commands.md").read_text()
    for path, command in _commands(typer.main.get_command(app)):
        assert f"edgehar {' '.join(path)} " in page, path
        for param in command.params:
            for option in param.opts:
                if option.startswith("--") and option != "--help":
                    assert option in page, (path, option)
